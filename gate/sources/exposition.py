"""The Prometheus text format, parsed with prometheus-client and then distrusted.

prometheus-client's parser is lazy (errors surface while iterating) and lets NaN, infinities,
negative values and duplicate series through; memory figures can be none of those.

Parsing is part of the read, so it has the read's deadline (`Budget`). prometheus-client parses
in Python, character by character: an answer of 4 MiB of series costs seconds of CPU, five
times that under a 200m CPU limit. So only the families a source asks for are parsed (the
lines are picked out by one regular expression, in C), a line longer than `MAX_LINE_BYTES` is
refused (no exporter writes one; one such line is the parser's worst case), and the rest is
parsed in pieces of `PIECE_BYTES` with the deadline checked between them: a parse that runs
past it is blind, at most one piece late (`make bench` measures a piece).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from gate.sources import SourceError

# An exporter's series lines are a few hundred bytes (dcgm-exporter with every pod label, a few KiB).
MAX_LINE_BYTES = 16 * 2**10
PIECE_BYTES = 32 * 2**10
# A line whose first character cannot start a comment or a metric name: an HTML page, JSON, ...
_NOT_EXPOSITION = re.compile(r"^[ \t]*(?![#a-zA-Z_:\s])(.{1,40})", re.M)
_ANNOUNCED = re.compile(r"^[ \t]*#[ \t]+(?:HELP|TYPE)[ \t]+([a-zA-Z_:][a-zA-Z0-9_:]*)", re.M)


@dataclass(frozen=True)
class Budget:
    """A read's deadline (time.monotonic()) and the timeout it came from, for the message."""

    at: float
    seconds: float

    @classmethod
    def starting_now(cls, seconds: float) -> Budget:
        return cls(time.monotonic() + seconds, seconds)

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self, where: str, doing: str) -> None:
        if time.monotonic() > self.at:
            raise SourceError(f"metrics from {where}: no complete answer within {self.seconds:g}s ({doing})")


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float
    timestamp: float | None


@dataclass(frozen=True)
class Exposition:
    """Samples by metric name; `families` holds every family announced, samples or not."""

    families: frozenset[str]
    samples: dict[str, list[Sample]]

    def require(self, name: str, where: str) -> list[Sample]:
        """The family's samples; a family that is not there at all is blindness."""
        if name not in self.families:
            raise SourceError(f"metrics from {where}: no {name} family in the answer")
        return self.samples.get(name, [])

    def require_all(self, names: Sequence[str], where: str) -> None:
        """Each family there, samples or not; the first missing (in `names`' order) is blindness."""
        for name in names:
            self.require(name, where)


def parse(body: bytes, where: str, families: Collection[str] | None = None, budget: Budget | None = None) -> Exposition:
    """Parse exposition text (only `families`, when given); any oddity becomes a one-line
    SourceError naming `where`, and so does running past `budget`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"metrics from {where}: answer is not UTF-8 text") from exc
    if budget is not None:
        budget.check(where, "reading the answer")
    if bad := _NOT_EXPOSITION.search(text):
        raise SourceError(f"metrics from {where}: not Prometheus exposition text (a line starts {bad.group(1)!r})")
    announced = {m.group(1) for m in _ANNOUNCED.finditer(text)}
    if families is not None:
        wanted = "|".join(re.escape(name) for name in sorted(families, key=len, reverse=True))
        lines = re.findall(rf"^[ \t]*(?:{wanted})(?=[ \t{{]|$)[^\n]*", text, re.M)
        announced &= set(families)
    else:
        lines = [line for line in text.split("\n") if line.strip() and not line.lstrip().startswith("#")]
    longest = max(lines, key=len, default="")
    if len(longest) > MAX_LINE_BYTES:
        raise SourceError(
            f"metrics from {where}: a series line of {len(longest)} bytes ({longest[:40]!r}...); "
            f"an exporter's are under {MAX_LINE_BYTES} bytes"
        )
    names: set[str] = set(announced)
    samples: dict[str, list[Sample]] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    start = 0
    while start < len(lines):
        if budget is not None:
            budget.check(where, f"parsing, {start} of {len(lines)} series read")
        end, size = start, 0
        while end < len(lines) and (size < PIECE_BYTES or end == start):
            size += len(lines[end]) + 1
            end += 1
        _parse_piece("\n".join(lines[start:end]) + "\n", where, names, samples, seen)
        start = end
    if budget is not None:
        budget.check(where, "parsing")
    return Exposition(frozenset(names), samples)


def _parse_piece(
    text: str, where: str, names: set[str], samples: dict[str, list[Sample]], seen: set[tuple[str, tuple[tuple[str, str], ...]]]
) -> None:
    try:
        for family in text_string_to_metric_families(text):
            for raw in family.samples:
                key = (raw.name, tuple(sorted(raw.labels.items())))
                if key in seen:
                    raise SourceError(f"metrics from {where}: duplicate series {_series(raw.name, raw.labels)}")
                seen.add(key)
                value = float(raw.value)
                if not math.isfinite(value) or value < 0:
                    raise SourceError(
                        f"metrics from {where}: {_series(raw.name, raw.labels)} is {raw.value}, expected a finite non-negative number"
                    )
                samples.setdefault(raw.name, []).append(Sample(raw.name, dict(raw.labels), value, raw.timestamp))
                names.add(raw.name)
    except SourceError:
        raise
    except Exception as exc:  # the parser raises ValueError, IndexError, TypeError... on bad text
        detail = " ".join(str(exc).split())[:160]
        raise SourceError(f"metrics from {where}: not Prometheus exposition text ({detail})") from exc


def _series(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"[:300]


def sampled_at(samples: list[Sample], where: str) -> datetime | None:
    """When the figures were taken, if the exporter stamped them (most do not: then they are as
    fresh as the answer, None). A stamp no clock can show is blindness, not a crash."""
    stamps = [s.timestamp for s in samples if s.timestamp is not None]
    if not stamps:
        return None
    try:
        return datetime.fromtimestamp(float(max(stamps)), UTC)
    except (OverflowError, OSError, ValueError, TypeError) as exc:
        raise SourceError(f"metrics from {where}: a sample is stamped {max(stamps)}, not a time") from exc
