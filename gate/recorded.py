"""The recorded nights `gate replay` and `gate measure` read: CSV trace files (gate/trace.py's
forms), or a range read from a Prometheus server, with the range read's own limits. Either way,
one card's: the card settings pick it from a file of several, and from Prometheus by the
exporter's labels."""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import import_module
from pathlib import Path

from gate.defaults import DEPLOYMENT
from gate.policy import PodUsage
from gate.sources import ANY_CARD, Card, SourceConfig, exporter
from gate.sources.prometheus import read_card_range, read_range
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
    # A device-level exporter's night (gate measure): whose metrics, the gate's record of the
    # server's replicas, and the label the scrape puts the node in.
    source: str = "gpu-pod-exporter"
    replicas_query: str | None = None
    node_label: str = "node"


def default_replicas_query(namespace: str, deployment: str) -> str:
    """The gate's own record of the server's replicas, as its metrics port serves it: that gate's
    alone (`deployment`, the label each gate's series carry), never another card's or release's in
    the namespace."""
    return f'max(gate_replicas{{namespace="{namespace}",deployment="{deployment}"}})'


def load_traces(
    paths: list[Path] | None, prometheus: PrometheusRange, card: Card = ANY_CARD, namespace: str = "tts", deployment: str = DEPLOYMENT
) -> list[Trace]:
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
            card=card,
            node_label=prometheus.node_label,
        )
        step, name = parse_duration(prometheus.step), f"prometheus {start}..{end}"
        source = exporter(prometheus.source)
        if source.per_pod:
            rows, up = read_range(config, begin, finish, step)
            return [from_scrapes(rows, up, name)]
        used_query, processes_query = import_module(f"gate.sources.{source.module}").range_queries(card, prometheus.node_label)
        queries = (
            prometheus.query or used_query,
            processes_query,
            prometheus.replicas_query or default_replicas_query(namespace, deployment),
        )
        used, processes, replicas = read_card_range(replace(config, query=None), queries, begin, finish, step)
        rows = {when: [PodUsage("", "", value)] for when, value in used.items()}
        return [from_scrapes(rows, set(used), name, processes, replicas, (card.node or "any", card.device or "any"))]
    if not paths:
        raise InvalidValue("give one or more trace files, or --prometheus with --start and --end")
    return [load_csv(path, card.node, card.device) for path in paths]
