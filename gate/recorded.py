"""The recorded nights `gate replay` and `gate measure` read: CSV trace files (gate/trace.py's
format), or a range read from a Prometheus server, with the range read's own limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gate.sources import SourceConfig
from gate.sources.prometheus import read_range
from gate.trace import Trace, from_scrapes, load_csv
from gate.units import InvalidValue, parse_duration, parse_instant

# A range read is one large answer, not a live read: a longer time limit and a larger size cap
# than the sources' own.
RANGE_TIMEOUT_SECONDS = 30
RANGE_MAX_BYTES = 64 * 2**20


@dataclass(frozen=True)
class PrometheusRange:
    """--prometheus and its range, as given (None: read trace files)."""

    url: str | None
    start: str | None
    end: str | None
    step: str
    query: str | None
    up_query: str | None


def load_traces(paths: list[Path] | None, prometheus: PrometheusRange) -> list[Trace]:
    """The traces: one per file, or one from the Prometheus range; never both."""
    if prometheus.url:
        if paths:
            raise InvalidValue("give trace files or --prometheus, not both")
        start, end = prometheus.start, prometheus.end
        if not start or not end:
            raise InvalidValue("--prometheus needs --start and --end (RFC 3339)")
        begin, finish = parse_instant(start), parse_instant(end)
        if finish <= begin:
            raise InvalidValue(f"invalid range: --end {end!r} is not after --start {start!r}")
        config = SourceConfig(
            url=prometheus.url,
            query=prometheus.query,
            up_query=prometheus.up_query,
            timeout_seconds=RANGE_TIMEOUT_SECONDS,
            max_bytes=RANGE_MAX_BYTES,
        )
        rows, up = read_range(config, begin, finish, parse_duration(prometheus.step))
        return [from_scrapes(rows, up, f"prometheus {start}..{end}")]
    if not paths:
        raise InvalidValue("give one or more trace files, or --prometheus with --start and --end")
    return [load_csv(path) for path in paths]
