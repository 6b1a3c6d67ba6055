"""`make demo`: what the chart would create, and the gate on a bundled night of a shared T4,
next to the seed stack's policy. No cluster, no GPU.

The chart's objects are printed from bench/demo-objects.txt, which `make demo-objects` writes
from the chart rendered by the real Helm engine (tests/test_docs.py fails when the two differ):
the engine is a 75 MB wheel, and the demo installs only the gate and matplotlib."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from gate.plot import plot_night  # noqa: E402
from gate.replay import default_config, replay  # noqa: E402
from gate.report import REPLAY_COLUMNS, replay_table  # noqa: E402
from gate.trace import load_csv  # noqa: E402

NIGHT = ROOT / "samples" / "nights" / "mid-window-wake.csv"
OBJECTS = ROOT / "bench" / "demo-objects.txt"
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


def is_test(obj: dict) -> bool:
    return (obj["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"


def describe(obj: dict) -> str:
    kind, name = obj["kind"], obj["metadata"]["name"]
    # The warm-up Job's name ends in a hash of its pod, which moves with any change to the pod.
    name = re.sub(r"-warmup-[0-9a-f]{10}$", "-warmup-<pod hash>", name)
    spec = obj.get("spec") or {}
    component = (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/component")
    if kind == "Deployment" and component == "server":
        return f"{kind:<22} {name:<24} replicas {spec['replicas']}: the server, until the gate takes the card"
    if kind == "Deployment":
        return f"{kind:<22} {name:<24} replicas {spec['replicas']}: the gate's controller (gate run), no GPU"
    if kind == "CronJob":
        args = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
        when = "on demand" if spec.get("suspend") else f"{spec['schedule']!r} {spec['timeZone']}"
        return f"{kind:<22} {name:<24} gate {' '.join(args)}, {when}"
    if kind == "Job" and component == "warmup":
        return f"{kind:<22} {name:<24} downloads the weights into /data now, without the GPU"
    if kind == "Service":
        return f"{kind:<22} {name:<24} port {spec['ports'][0]['port']} -> the server's 8004"
    if kind == "Pod" and is_test(obj):
        return f"{kind:<22} {name:<24} gate check: metrics, RBAC, and a synthesis while the server is up"
    return f"{kind:<22} {name}"


def objects_listing() -> str:
    """What `helm install` and then `helm test` create with the chart's defaults, one line each."""
    from helm import documents, render  # the real Helm engine: make demo-objects, and the tests

    objects = documents(render({}))
    lines = ["== helm install tts ./chart -n tts would create:"]
    lines += ["  " + describe(obj) for obj in objects if not is_test(obj)]
    lines += ["== and helm test tts -n tts, afterwards:"]
    lines += ["  " + describe(obj) for obj in objects if is_test(obj)]
    return "\n".join(lines) + "\n"


def main() -> None:
    if sys.argv[1:] == ["--write-objects"]:
        OBJECTS.write_text(objects_listing())
        print(f">> {OBJECTS.relative_to(ROOT)}: the chart's objects, rendered")
        return
    print(OBJECTS.read_text(), end="")

    print(f"\n== a night on a shared T4 ({NIGHT.name}): a resident wakes at 03:30 and sleeps at 04:05")
    trace = load_csv(NIGHT)
    configs = [default_config(policy) for policy in ("seed", "gate")]
    results = [replay(trace, config) for config in configs]
    print(replay_table([(trace.name, night) for result in results for night in result.nights]))
    print(REPLAY_COLUMNS)
    window = configs[0].settings.window
    assert window is not None  # the chart's default window
    zone = results[0].actions[0].time.astimezone(window.tz).strftime("%Z")
    print(f"what each did, on the window's clock ({window}, {zone} that night):")
    for result in results:
        moves = ", ".join(f"{a.time.astimezone(window.tz):%H:%M:%S} {a.command} -> {a.replicas}" for a in result.actions)
        print(f"  {result.policy:<5} {moves}")
    plot_night(results, PICTURE, f"{trace.name}: the seed's policy and the gate's")
    print(f"\n== the night, drawn: {PICTURE.relative_to(ROOT)}")

    print("\n" + NEXT_STEPS)


if __name__ == "__main__":
    main()
