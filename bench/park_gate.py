"""The gate's controller parking and unparking a real server: one `gate run` iteration per step,
with the project's kube-apiserver and exporter doubles (tests/) standing in for the cluster, and
the server image's layer (its client and control ports) as the real thing. It runs wherever the
server runs: server-on-cpu here, a pod's ports through `kubectl port-forward` on a GPU node.

1. A resident wakes while a synthesis is in flight: the controller parks the server; the request
   in flight and one asked while parked answer 503 with Retry-After.
2. The resident sleeps again: room seen (the cool-down starts), then, past the cool-down, the
   controller unparks it and a request is answered with WAV.

    python bench/park_gate.py --server http://127.0.0.1:8004 --control http://127.0.0.1:8005 \
        --token-file TOKEN [--voice Emily.wav]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import faults  # noqa: E402
from exporter import FakeExporter  # noqa: E402
from kubeapi import FakeKubeAPI  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from gate.cli import app  # noqa: E402

# The doubles' night (faults.NIGHT): the wake, then room two minutes later and past the cool-down.
WAKE_AT, ROOM_AT, UNPARK_AT = "2026-11-12T02:30:00Z", "2026-11-12T02:32:00Z", "2026-11-12T02:32:20Z"


def control_state(control: str, token: str) -> dict:
    request = urllib.request.Request(f"{control}/state", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def speak(server: str, voice: str, text: str, out: dict) -> None:
    body = json.dumps({"model": "chatterbox", "input": text, "voice": voice, "seed": 7}).encode()
    request = urllib.request.Request(f"{server}/v1/audio/speech", data=body, headers={"Content-Type": "application/json"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=900) as answer:
            data = answer.read()
            out.update(code=answer.status, bytes=len(data), wav=data[:4] == b"RIFF")
    except urllib.error.HTTPError as error:
        out.update(code=error.code, retry_after=error.headers.get("Retry-After"))
    out["seconds"] = round(time.monotonic() - started, 2)


def tick(api: FakeKubeAPI, exporter: FakeExporter, now: str, args: argparse.Namespace, scratch: Path) -> tuple[float, str]:
    env = {
        "KUBECONFIG": api.kubeconfig(scratch / "kubeconfig", namespace="tts"),
        "GATE_METRICS_URL": exporter.url,
        "GATE_TOTAL": "15360MiB",
        "GATE_FLOOR": "6GiB",
        "GATE_WINDOW": "02:00-06:00",
        "GATE_TIMEZONE": "Europe/London",
        "GATE_NOW": now,
        "GATE_PARK": "true",
        "GATE_CONTROL_URL": args.control,
        "GATE_CONTROL_TOKEN_FILE": args.token_file,
    }
    started = time.monotonic()
    result = CliRunner().invoke(app, ["run", "--interval", "1s", "--iterations", "1", "--metrics-port", "0"], env=env)
    ticks = [line for line in (result.stdout + result.stderr).splitlines() if "command=tick" in line]
    return round(time.monotonic() - started, 2), (ticks[-1] if ticks else f"exit {result.exit_code}: {result.stderr.strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8004", help="the server's client port")
    parser.add_argument("--control", default="http://127.0.0.1:8005", help="the layer's control port")
    parser.add_argument("--token-file", required=True, help="the control token")
    parser.add_argument("--voice", default="Emily.wav")
    args = parser.parse_args(argv)
    token = Path(args.token_file).read_text().strip()
    print(f"server: {control_state(args.control, token)['state']}")
    with FakeExporter() as exporter, FakeKubeAPI(replicas=1) as api, tempfile.TemporaryDirectory() as scratch:
        api.set_state(faults.SERVING_TEN_MINUTES)
        inflight: dict = {}
        sentence = "Hi there. A longer sentence, for the park to cut."
        speaking = threading.Thread(target=speak, args=(args.server, args.voice, sentence, inflight))
        speaking.start()
        time.sleep(6)  # the synthesis under way
        exporter.serve(faults.WAKE)
        seconds, line = tick(api, exporter, WAKE_AT, args, Path(scratch))
        speaking.join()
        state = control_state(args.control, token)
        last = state.get("last") or {}
        print(f"1. wake: one iteration in {seconds}s: {line}")
        print(f"   server {state['state']}; park seconds {last.get('seconds')}; aborted a synthesis: {last.get('aborted_synthesis')}")
        print(f"   the request in flight: {inflight}; replicas {api.replicas()}")
        parked: dict = {}
        speak(args.server, args.voice, "Hi.", parked)
        print(f"   a request while parked: {parked}")
        exporter.serve(faults.HEADER + faults.STEADY + faults._own(1536))
        for now in (ROOM_AT, UNPARK_AT):
            seconds, line = tick(api, exporter, now, args, Path(scratch))
            print(f"2. room at {now}: one iteration in {seconds}s: {line}")
        state = control_state(args.control, token)
        print(f"   server {state['state']}; unpark seconds {(state.get('last') or {}).get('seconds')}")
        after: dict = {}
        speak(args.server, args.voice, "Hi there.", after)
        print(f"   a request after the unpark: {after}")
        print(f"   the Lease: { {k: v for k, v in api.state().items() if 'park' in k} }")
        ok = state["state"] == "serving" and after.get("wav") and inflight.get("code") == 503 and parked.get("code") == 503
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
