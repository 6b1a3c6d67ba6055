"""`make bench`'s settings part: the worst settings files the gate can be handed, each read and
refused (or read) as a loop's reload does it, timed here. The target: each within a fifth of the
watchdog's bound at the chart's defaults (25 s / 5 = 5 s), so that under the chart's 200m CPU
limit (about 5 times slower than a free core) a reload still cannot hold a loop past its bound."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gate import settings as gate_settings  # noqa: E402
from gate.settings.document import MAX_BYTES  # noqa: E402
from gate.units import InvalidValue  # noqa: E402

TARGET_SECONDS = 5.0
ALIAS_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{x}: &{x} [{','.join(['*' + y] * 9)}]\n" for y, x in zip("abcdefgh", "bcdefghi", strict=True)
)


def with_header(body: str) -> str:
    return gate_settings.HEADER + "\n" + body


def cases() -> dict[str, bytes | str]:
    """Each file as bytes at a path, padded to the cap where size is the attack; "/dev/zero" is the device itself."""
    room = MAX_BYTES - 200
    return {
        "one scalar of the cap's size": with_header("x: '" + "a" * room + "'\n"),
        "comments to the cap": with_header(("# " + "c" * 78 + "\n") * (room // 81)),
        "blank lines to the cap": with_header("\n" * room + "floor: 6GiB\n"),
        "keys to the cap": with_header("".join(f"k{i}: {i}\n" for i in range(room // 8))[:room]),
        "a flow list to the cap": with_header("x: [" + "1, " * (room // 3 - 2) + "1]\n"),
        "nesting to the cap": with_header("x: " + "[" * (room // 2) + "]" * (room // 2) + "\n"),
        "a YAML alias bomb (339 bytes)": with_header(ALIAS_BOMB),
        "/dev/zero behind the path": "/dev/zero",
        "twice the cap": with_header("# " + "x" * (2 * MAX_BYTES) + "\n"),
    }


def seal(text: str) -> bytes:
    """Sealed as the chart seals (sha256 of every byte above the seal line), whatever it says."""
    import hashlib

    body = text if text.endswith("\n") else text + "\n"
    return f"{body}# sha256:{hashlib.sha256(body.encode()).hexdigest()}\n".encode()


def read_once(path: str) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        gate_settings.load_text(gate_settings.decode(gate_settings.read_bytes(path), path), path)
        outcome = "read"
    except InvalidValue as exc:
        outcome = "refused: " + str(exc).split(": ", 2)[-1][:60]
    return time.perf_counter() - started, outcome


def rows() -> list[tuple[str, float, str]]:
    measured = []
    with tempfile.TemporaryDirectory() as directory:
        for name, content in cases().items():
            path = content if content == "/dev/zero" else str(Path(directory) / "gate.yaml")
            if path != "/dev/zero":
                Path(path).write_bytes(seal(content))
            seconds = min(read_once(path)[0] for _ in range(3))
            measured.append((name, seconds, read_once(path)[1]))
    return measured


def report() -> list[tuple[str, bool]]:
    """Print the table; return the verdicts."""
    measured = rows()
    print(f"Settings files at their worst (read and parsed as a reload does; cap {MAX_BYTES // 2**10} KiB, best of 3):")
    print()
    print("| file | seconds | outcome |")
    print("|---|---|---|")
    for name, seconds, outcome in measured:
        print(f"| {name} | {seconds:.3f} | {outcome} |")
    print()
    worst = max(seconds for _, seconds, _ in measured)
    return [(f"the worst settings file is read or refused in {worst:.2f} s (target: under {TARGET_SECONDS:.0f} s)", worst < TARGET_SECONDS)]


if __name__ == "__main__":
    checks = report()
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    sys.exit(0 if all(ok for _, ok in checks) else 1)
