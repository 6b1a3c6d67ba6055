"""`make demo`: what the chart would create, and the gate on a bundled night of a shared T4,
next to the seed stack's policy. No cluster, no GPU."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helm import documents, render  # noqa: E402

from gate.plot import plot_night  # noqa: E402
from gate.replay import default_config, replay  # noqa: E402
from gate.report import replay_table  # noqa: E402
from gate.trace import load_csv  # noqa: E402

NIGHT = ROOT / "samples" / "nights" / "mid-window-wake.csv"
PICTURE = ROOT / "demo-night.png"
# Printed as they run: REGISTRY is the one thing to change (tests/test_docs.py runs the gate
# lines and renders the helm install line; README.md's Install has the same commands).
NEXT_STEPS = """== next, on your cluster (README.md: Prerequisites, then Install):
  REGISTRY=registry.example.com/me    # your registry (docker login to it first)
  make build-image build-gate push REGISTRY=$REGISTRY
  helm install tts ./chart -n tts --create-namespace \\
    --set server.image.repository=$REGISTRY/chatterbox-tts \\
    --set gate.image.repository=$REGISTRY/tts-gate \\
    -f chart/ci/dcgm-values.yaml    # memory from gpu-operator's dcgm-exporter; see README.md for yours
  helm test tts -n tts

== and here, without a cluster:
  .venv/bin/gate measure samples/baked/bake.csv    # the floor from a night the server baked
  .venv/bin/gate replay samples/nights/busy.csv --compare --floor 6428MiB    # that floor, replayed
  make bench    # every sample night, the seed's policy, the gate's and a reactive one"""


def describe(obj: dict) -> str:
    kind, name = obj["kind"], obj["metadata"]["name"]
    spec = obj.get("spec") or {}
    if kind == "Deployment":
        return f"{kind:<22} {name:<24} replicas {spec['replicas']} until the gate takes the card"
    if kind == "CronJob":
        args = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
        when = "on demand" if spec.get("suspend") else f"{spec['schedule']!r} {spec['timeZone']}"
        return f"{kind:<22} {name:<24} gate {' '.join(args)}, {when}"
    if kind == "Service":
        return f"{kind:<22} {name:<24} port {spec['ports'][0]['port']} -> the server's 8004"
    return f"{kind:<22} {name}"


def main() -> None:
    print("== helm install tts ./chart -n tts would create:")
    for obj in documents(render({})):
        print("  " + describe(obj))

    print(f"\n== a night on a shared T4 ({NIGHT.name}): a resident wakes at 03:30 and sleeps at 04:05")
    trace = load_csv(NIGHT)
    results = [replay(trace, default_config(policy)) for policy in ("seed", "gate")]
    print(replay_table([(trace.name, night) for result in results for night in result.nights]))
    for result in results:
        moves = ", ".join(f"{a.time:%H:%M:%S}Z {a.command} -> {a.replicas}" for a in result.actions)
        print(f"  {result.policy:<5} {moves}")
    plot_night(results, PICTURE, f"{trace.name}: the seed's policy and the gate's")
    print(f"\n== the night, drawn: {PICTURE.relative_to(ROOT)}")

    print("\n" + NEXT_STEPS)


if __name__ == "__main__":
    main()
