"""Soak a running server with identical requests and print, per request, what it cost: wall time,
synthesis seconds and seconds of audio (from the server's own metrics, so the real-time factor is
the engine's, not the HTTP round trip's), the server process's CPU seconds, its RSS and the hooks
on the model.

Needs the server image's layer (its metrics port); on a GPU the real-time factor is the figure to
watch, on a CPU with random weights the CPU seconds (a shared machine's wall time carries its
neighbours' load), the hooks and the RSS. Standard library only: runs anywhere
the server's ports are reachable.

    python bench/soak.py --url http://127.0.0.1:8004 --metrics http://127.0.0.1:9403/metrics \
        --requests 40 --voice Emily.wav --text "Hi there." --seed 7 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.request

SERIES = {
    "synthesis": "tts_server_synthesis_seconds_sum",
    "audio": "tts_server_audio_seconds_total",
    "rss": "tts_server_host_memory_bytes",
    "hooks": "tts_server_model_hooks",
    "chunks": 'tts_server_chunks_total{outcome="ok"}',
    "cpu": "process_cpu_seconds_total",
}


def scrape(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    values = {}
    for key, series in SERIES.items():
        match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
        values[key] = float(match.group(1)) if match else float("nan")
    return values


def speak(url: str, voice: str, text: str, seed: int, timeout: float) -> tuple[int, int]:
    body = json.dumps({"model": "chatterbox", "input": text, "voice": voice, "seed": seed}).encode()
    request = urllib.request.Request(f"{url}/v1/audio/speech", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, len(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8004", help="the server's client port")
    parser.add_argument("--metrics", default="http://127.0.0.1:9403/metrics", help="the layer's metrics URL")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--voice", default="Emily.wav")
    parser.add_argument("--text", default="Hi there.")
    parser.add_argument("--seed", type=int, default=7, help="fixed, so every request makes the same audio")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per request")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error(f"--requests {args.requests}: expected at least 1")
    try:
        before = scrape(args.metrics)
    except (OSError, ValueError) as error:
        print(f"soak: cannot read the server's metrics at {args.metrics}: {error}", file=sys.stderr)
        return 2
    rows = []
    print(f"{'#':>3} {'code':>4} {'wall s':>7} {'synth s':>8} {'CPU s':>7} {'audio s':>7} {'RTF':>7} {'RSS MiB':>8} {'hooks':>5}")
    for number in range(1, args.requests + 1):
        started = time.monotonic()
        code, size = speak(args.url, args.voice, args.text, args.seed, args.timeout)
        wall = time.monotonic() - started
        after = scrape(args.metrics)
        synthesis, audio = after["synthesis"] - before["synthesis"], after["audio"] - before["audio"]
        row = {
            "request": number,
            "code": code,
            "bytes": size,
            "wall_seconds": round(wall, 3),
            "synthesis_seconds": round(synthesis, 3),
            # The server process's CPU seconds over the request: the work, whatever the neighbours do.
            "cpu_seconds": round(after["cpu"] - before["cpu"], 3),
            "audio_seconds": round(audio, 3),
            "realtime_factor": round(synthesis / audio, 3) if audio > 0 else None,
            "rss_mib": round(after["rss"] / 2**20),
            "hooks": int(after["hooks"]) if after["hooks"] == after["hooks"] else None,
        }
        rows.append(row)
        before = after
        rtf = f"{row['realtime_factor']:.2f}" if row["realtime_factor"] is not None else "-"
        print(
            f"{number:>3} {code:>4} {wall:>7.1f} {synthesis:>8.1f} {row['cpu_seconds']:>7.1f} {audio:>7.2f} {rtf:>7} "
            f"{row['rss_mib']:>8} {row['hooks']!s:>5}",
            flush=True,
        )
    ok = [r for r in rows if r["code"] == 200 and r["realtime_factor"] is not None]
    if ok:
        first, last = ok[0], ok[-1]
        print(
            f"first → last: synthesis {first['synthesis_seconds']:.1f}s → {last['synthesis_seconds']:.1f}s, "
            f"CPU {first['cpu_seconds']:.1f}s → {last['cpu_seconds']:.1f}s, "
            f"RTF {first['realtime_factor']:.2f} → {last['realtime_factor']:.2f}, RSS {first['rss_mib']} → {last['rss_mib']} MiB, "
            f"hooks {first['hooks']} → {last['hooks']}; {len(ok)}/{len(rows)} answered 200"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)
    return 0 if len(ok) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
