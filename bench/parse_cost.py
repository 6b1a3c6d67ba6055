"""What parsing an exporter's answer costs, at the sources' size cap (4 MiB), and how late a
parse that runs past the read's deadline can be (issue 24.8). Printed by `make bench`.

A parse is CPU: under the chart's 200m CPU limit (a CFS quota of 20 ms in every 100 ms) it takes
five times its CPU time on the wall clock, so the 200m column is the CPU time times 5.

Shapes, each repeated up to the cap: the owner's per-process lines; the parser's worst line found
(many short labels: prometheus-client parses labels character by character); 4 MiB of another
family (what an exporter with many metrics sends beside the few the gate reads); one line of
4 MiB; a Prometheus vector answer of 4 MiB.

"parser alone" parses the whole answer with prometheus-client (a vector: json.loads), as the old
gate parse did before its own checks of every sample; "after" is
gate.sources.exposition.parse (the families asked for only, no line over 16 KiB, pieces of
32 KiB with the deadline checked between them). "one piece" is the longest stretch between two
looks at the deadline: how late a parse can end after it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from gate.sources import SourceError, exposition, prometheus  # noqa: E402

CAP = 4 * 2**20
QUOTA = 5  # 200m CPU: 1/5 of a core
FAMILY = "gpu_pod_memory_used_bytes"
HEAD = f"# HELP {FAMILY} GPU memory used by pod\n# TYPE {FAMILY} gauge\n"
# Targets: a piece under 200m stays well inside one timeout's slack (the default timeout is 5 s);
# an answer of other families costs next to nothing.
MAX_PIECE_AT_QUOTA_SECONDS = 0.5
MAX_OTHER_FAMILIES_AT_QUOTA_SECONDS = 0.5


def repeated(line: Callable[[int], str], head: str = HEAD) -> bytes:
    parts, size, n = [head], len(head), 0
    while True:
        text = line(n)
        if size + len(text) > CAP:
            return "".join(parts).encode()
        parts.append(text)
        size += len(text)
        n += 1


def shapes() -> dict[str, bytes]:
    owner = (
        'gpu_pod_memory_used_bytes{{namespace="immich",pod="immich-machine-learning-7d9f8b6c5d-x2k4p",container="ml",'
        'process_name="python3",pid="{}"}} 2254438400\n'
    )
    labels = ",".join(f'l{k}=""' for k in range(60))
    return {
        "owner's lines": repeated(owner.format),
        "worst lines (60 short labels)": repeated(lambda n: f'{FAMILY}{{{labels},pid="{n}"}} 1048576\n'),
        "another family": repeated(lambda n: f'go_gc_duration_seconds{{quantile="{n}",instance="node-exporter-7d9f8b6c5d"}} 1\n'),
        "one line of 4 MiB": (HEAD + f'{FAMILY}{{namespace="' + "a" * (CAP - 200) + '",pod="p"} 1048576\n').encode(),
    }


def vector_answer() -> bytes:
    item = {"metric": {"namespace": "immich", "pod": "immich-machine-learning-7d9f8b6c5d-x2k4p", "node": "node-a"}, "value": [1.0, "1"]}
    result, size = [], 100
    while size < CAP:
        entry = {**item, "metric": {**item["metric"], "pid": str(len(result))}}
        result.append(entry)
        size += len(json.dumps(entry)) + 2
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()


def cpu(call: Callable[[], object]) -> tuple[float, str]:
    started = time.process_time()
    try:
        call()
        outcome = "parsed"
    except SourceError as exc:
        outcome = "refused: " + str(exc).split(": ", 2)[-1][:40]
    return time.process_time() - started, outcome


def before(body: bytes) -> None:
    for family in text_string_to_metric_families(body.decode()):
        list(family.samples)


class Recording(exposition.Budget):
    """A deadline that never passes and notes when each check comes."""

    def __init__(self) -> None:
        super().__init__(float("inf"), 5.0)
        object.__setattr__(self, "checks", [])

    def check(self, where: str, doing: str) -> None:
        self.checks.append(time.process_time())  # type: ignore[attr-defined]


def longest_piece(parse: Callable[[exposition.Budget], object]) -> float:
    """The longest stretch of a parse between two looks at the deadline (the start counts as one)."""
    budget = Recording()
    started = time.process_time()
    with contextlib.suppress(SourceError):
        parse(budget)
    marks = [started, *budget.checks]  # type: ignore[attr-defined]
    return max((b - a for a, b in zip(marks, marks[1:], strict=False)), default=0.0)


def rows() -> list[tuple[str, float, float, float, str]]:
    out = []
    for name, body in shapes().items():
        old, _ = cpu(lambda b=body: before(b))
        new, outcome = cpu(lambda b=body: exposition.parse(b, "bench", (FAMILY,)))
        piece = longest_piece(lambda budget, b=body: exposition.parse(b, "bench", (FAMILY,), budget))
        out.append((name, old, new, piece, outcome))
    body = vector_answer()
    old, _ = cpu(lambda: json.loads(body))  # before: the answer was parsed in one go too
    new, outcome = cpu(lambda: prometheus.parse_vector(body, "bench", "q"))
    out.append(("Prometheus vector", old, new, longest_piece(lambda budget: prometheus.parse_vector(body, "bench", "q", budget)), outcome))
    return out


def table(measured: list[tuple[str, float, float, float, str]]) -> str:
    lines = [
        "| answer (4 MiB) | parser alone, CPU | after, CPU | after at 200m | one piece at 200m | after |",
        "|---|---|---|---|---|---|",
    ]
    for name, old, new, piece, outcome in measured:
        lines.append(f"| {name} | {old:.2f} s | {new:.2f} s | {new * QUOTA:.2f} s | {piece * QUOTA:.3f} s | {outcome} |")
    return "\n".join(lines)


def verdicts(measured: list[tuple[str, float, float, float, str]]) -> list[tuple[str, bool]]:
    worst_piece = max(piece for *_, piece, _ in measured) * QUOTA
    other = next(new for name, _, new, _, _ in measured if name == "another family") * QUOTA
    return [
        (
            f"a parse ends at most one piece after the read's deadline: {worst_piece:.3f} s at 200m (target <= "
            f"{MAX_PIECE_AT_QUOTA_SECONDS} s)",
            worst_piece <= MAX_PIECE_AT_QUOTA_SECONDS,
        ),
        (
            f"4 MiB of families the gate does not read: {other:.2f} s at 200m (target <= {MAX_OTHER_FAMILIES_AT_QUOTA_SECONDS} s)",
            other <= MAX_OTHER_FAMILIES_AT_QUOTA_SECONDS,
        ),
    ]


if __name__ == "__main__":
    measured = rows()
    print(table(measured))
    for text, ok in verdicts(measured):
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
