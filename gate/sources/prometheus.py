"""A Prometheus server's HTTP API: an instant query whose result maps to residents.

The query (default: `gpu_pod_memory_used_bytes` summed by namespace, pod and node) must return a
vector; series with `namespace` and `pod` labels are pods, others count as unattributed. With
`card.node` set the default queries match the node label the scrape adds (`node_label`), and any
answer is filtered by it (`for_card`); an answer that spans several nodes with none set is blind.
An answer with `warnings` or marked partial is blind too (it may miss series).
An empty vector is ambiguous in Prometheus (an idle card, or an exporter that stopped being
scraped five minutes ago), so a liveness query must also answer 1, or the gate is blind; with
the exporter up, an empty vector is an empty answer (see `policy.Reading.empty`).

Freshness: an instant query answers with the evaluation time, and Prometheus keeps returning a
series' last sample for five minutes after its scrapes stop. So the sample time comes from a
third query, the time of the exporter's last scrape (`timestamp()` of its `up` series), and the
policy's max-age applies to it. That time lags the card by up to one scrape interval (the
owner's is 2 minutes), so max-age must be longer than the interval.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from gate.policy import PodUsage, Reading
from gate.sources import ANY_CARD, Card, SourceConfig, SourceError, by_pod
from gate.sources.exposition import Budget
from gate.sources.scrape import fetch, host_of

# The owner's Prometheus scrapes gpu-pod-exporter as job `gpu-pod-memory`.
JOB = "gpu-pod-memory"
METRIC = "gpu_pod_memory_used_bytes"
DEFAULT_NODE_LABEL = "node"  # where the prometheus-community chart's endpoints job puts the pod's node
DEFAULT_QUERY = f"sum by (namespace, pod, {DEFAULT_NODE_LABEL}) ({METRIC})"
DEFAULT_UP_QUERY = f'max(up{{job="{JOB}"}})'
DEFAULT_SAMPLED_QUERY = f'max(timestamp(up{{job="{JOB}"}}))'


def default_queries(card: Card, node_label: str = DEFAULT_NODE_LABEL) -> tuple[str, str, str]:
    """The usage, liveness and scrape-time queries, with the card's node as a matcher when it is
    set: then Prometheus answers for that node's exporter only."""
    if card.node is None:
        return f"sum by (namespace, pod, {node_label}) ({METRIC})", DEFAULT_UP_QUERY, DEFAULT_SAMPLED_QUERY
    matcher = f'{node_label}="{_escape(card.node)}"'
    return (
        f"sum by (namespace, pod, {node_label}) ({METRIC}{{{matcher}}})",
        f'max(up{{job="{JOB}",{matcher}}})',
        f'max(timestamp(up{{job="{JOB}",{matcher}}}))',
    )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


# A sample that is not what the HTTP API documents: a missing key, a wrong type, a bad number.
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)
# Items of a vector or matrix checked between two looks at the deadline.
_CHECK_EVERY = 1000


def _result(body: bytes, where: str, query: str, result_type: str, budget: Budget | None = None) -> list:
    """The `data.result` list of a successful, complete query answer of `result_type`, or a
    SourceError. An answer with `warnings` (a remote or a store that did not answer: Thanos'
    partial responses, a federated read cut short) or marked partial (VictoriaMetrics'
    `isPartial`) may miss series, which reads as memory nobody holds: blind, never trusted."""
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise SourceError(f"metrics from {where}: answer to {query!r} is not JSON") from exc
    if budget is not None:
        budget.check(where, f"parsing the answer to {query!r}")
    if not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error", "no status") if isinstance(answer, dict) else "not an object"
        raise SourceError(f"metrics from {where}: query {query!r} failed: {' '.join(str(error).split())[:160]}")
    warnings = answer.get("warnings")
    if warnings:
        first = warnings[0] if isinstance(warnings, list) and warnings else warnings
        raise SourceError(
            f"metrics from {where}: the answer to {query!r} came with warnings ({' '.join(str(first).split())[:160]}): "
            "it may be partial, blind"
        )
    if answer.get("isPartial") is True or answer.get("partialResponse") is True:
        raise SourceError(f"metrics from {where}: the answer to {query!r} is marked partial: blind")
    data = answer.get("data")
    kind = data.get("resultType") if isinstance(data, dict) else None
    if kind != result_type or not isinstance(data.get("result"), list):
        raise SourceError(f"metrics from {where}: query {query!r} returned {kind!r}, expected a {result_type}")
    return data["result"]


def parse_vector(body: bytes, where: str, query: str, budget: Budget | None = None) -> list[tuple[dict[str, str], float, float]]:
    """A `/api/v1/query` answer -> [(labels, value, timestamp)], every value checked."""
    rows = []
    seen = set()
    for number, item in enumerate(_result(body, where, query, "vector", budget)):
        if budget is not None and number % _CHECK_EVERY == _CHECK_EVERY - 1:
            budget.check(where, f"parsing the answer to {query!r}")
        try:
            labels = {str(k): str(v) for k, v in item["metric"].items()}
            stamp, text = item["value"]
            value, stamp = float(text), float(stamp)
        except _MALFORMED as exc:
            raise SourceError(f"metrics from {where}: malformed sample in answer to {query!r}") from exc
        key = tuple(sorted(labels.items()))
        if key in seen:
            raise SourceError(f"metrics from {where}: duplicate series {str(labels)[:200]} in answer to {query!r}")
        seen.add(key)
        if not math.isfinite(value) or value < 0:
            raise SourceError(f"metrics from {where}: {str(labels)[:200]} is {text}, expected a finite non-negative number")
        rows.append((labels, value, stamp))
    return rows


def for_card(
    rows: list[tuple[dict[str, str], float, float]], card: Card, node_label: str, where: str, query: str
) -> list[tuple[dict[str, str], float, float]]:
    """The rows of the watched card's node. With no node set, an answer that spans several nodes
    is blind (it would add two cards up); with one set, a row whose node is unknown, or an answer
    with rows for other nodes only, is blind too."""
    nodes = sorted({labels[node_label] for labels, _, _ in rows if labels.get(node_label)})
    if card.node is None:
        if len(nodes) > 1:
            raise SourceError(
                f"metrics from {where}: the answer to {query!r} spans {len(nodes)} nodes ({', '.join(nodes[:4])}); "
                "the gate watches one card: set card.node (GATE_CARD_NODE) to the server's"
            )
        return rows
    if any(not labels.get(node_label) for labels, _, _ in rows):
        raise SourceError(
            f"metrics from {where}: the answer to {query!r} has series without a {node_label!r} label, so their node is "
            f"unknown: keep {node_label} in the query's by (...), or set prometheus.nodeLabel to where the scrape puts the node"
        )
    ours = [row for row in rows if row[0][node_label] == card.node]
    if rows and not ours:
        raise SourceError(
            f"metrics from {where}: the answer to {query!r} has series for nodes {', '.join(nodes[:4])} but none for "
            f"node {card.node}: blind, not idle"
        )
    return ours


def parse(
    body: bytes,
    where: str,
    query: str = DEFAULT_QUERY,
    sampled_at: datetime | None = None,
    card: Card = ANY_CARD,
    node_label: str = DEFAULT_NODE_LABEL,
    budget: Budget | None = None,
) -> Reading:
    """The usage query's answer; `sampled_at` is when the exporter was last scraped (an instant
    query's own timestamps are only its evaluation time)."""
    rows = for_card(parse_vector(body, where, query, budget), card, node_label, where, query)
    pods, unattributed = by_pod((labels, value) for labels, value, _ in rows)
    return Reading(pods=pods, unattributed_bytes=unattributed, sampled_at=sampled_at, empty=not rows)


def parse_sampled_at(body: bytes, where: str, query: str, budget: Budget | None = None) -> datetime:
    """The answer to the scrape-time query: one series whose value is a Unix time."""
    rows = parse_vector(body, where, query, budget)
    if not rows:
        raise SourceError(
            f"metrics from {where}: {query!r} answered nothing, so the samples' age is unknown; "
            "set GATE_PROMETHEUS_SAMPLED_QUERY if the exporter's job is named otherwise"
        )
    newest = max(value for _, value, _ in rows)
    try:
        return datetime.fromtimestamp(newest, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise SourceError(f"metrics from {where}: {query!r} answered {newest:g}, not a Unix time") from exc


def check_up(body: bytes, where: str, query: str, budget: Budget | None = None) -> None:
    rows = parse_vector(body, where, query, budget)
    best = max((value for _, value, _ in rows), default=None)
    if best is None or best < 1:
        answered = "nothing" if best is None else f"{best:g}"
        raise SourceError(
            f"metrics from {where}: the exporter is not up ({query!r} answered {answered}); "
            "set GATE_PROMETHEUS_UP_QUERY if its job is named otherwise"
        )


class Source:
    name = "prometheus"

    def __init__(self, config: SourceConfig):
        self.config = config
        query, up_query, sampled_query = default_queries(config.card, config.node_label)
        self.query = config.query or query
        self.up_query = config.up_query or up_query
        self.sampled_query = config.sampled_query or sampled_query

    def _query(self, query: str, budget: Budget) -> bytes:
        url = self.config.url.rstrip("/") + "/api/v1/query"
        return fetch(url, self.config.timeout_seconds, self.config.max_bytes, params={"query": query}, budget=budget)

    def read(self) -> Reading:
        """Three queries within one timeout, their parsing included: the read as a whole has the
        deadline a scrape has."""
        where = host_of(self.config.url)
        budget = Budget.starting_now(self.config.timeout_seconds)
        check_up(self._query(self.up_query, budget), where, self.up_query, budget)
        sampled_at = parse_sampled_at(self._query(self.sampled_query, budget), where, self.sampled_query, budget)
        body = self._query(self.query, budget)
        return parse(body, where, self.query, sampled_at, self.config.card, self.config.node_label, budget)


def parse_matrix(body: bytes, where: str, query: str) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
    """A `/api/v1/query_range` answer -> [(labels, [(timestamp, value)])], every value checked."""
    series = []
    for item in _result(body, where, query, "matrix"):
        try:
            labels = {str(k): str(v) for k, v in item["metric"].items()}
            points = [(float(stamp), float(text)) for stamp, text in item["values"]]
        except _MALFORMED as exc:
            raise SourceError(f"metrics from {where}: malformed series in answer to {query!r}") from exc
        if any(not math.isfinite(v) or v < 0 for _, v in points):
            raise SourceError(f"metrics from {where}: {labels} has a value that is not a finite non-negative number")
        series.append((labels, points))
    return series


# Prometheus refuses ranges of more than 11,000 points per series; stay under it per request.
_MAX_POINTS = 10_000


def _range(
    config: SourceConfig, query: str, start: datetime, end: datetime, step_seconds: float
) -> list[tuple[dict[str, str], list[tuple[datetime, float]]]]:
    """One query over [start, end] at `step_seconds`, in requests of at most _MAX_POINTS steps."""
    where = host_of(config.url)
    url = config.url.rstrip("/") + "/api/v1/query_range"
    found: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[tuple[datetime, float]]]] = {}
    chunk = timedelta(seconds=step_seconds * _MAX_POINTS)
    cursor = start
    while cursor <= end:
        until = min(end, cursor + chunk)
        params = {"start": f"{cursor.timestamp():.3f}", "end": f"{until.timestamp():.3f}", "step": f"{step_seconds:g}", "query": query}
        body = fetch(url, config.timeout_seconds, config.max_bytes, params=params)
        for labels, points in parse_matrix(body, where, query):
            entry = found.setdefault(tuple(sorted(labels.items())), (labels, []))
            entry[1].extend((datetime.fromtimestamp(stamp, UTC), value) for stamp, value in points)
        cursor = until + timedelta(seconds=step_seconds)
    return list(found.values())


def read_range(
    config: SourceConfig, start: datetime, end: datetime, step_seconds: float
) -> tuple[dict[datetime, list[PodUsage]], set[datetime]]:
    """Usage by pod at every evaluation step in [start, end], and the steps at which the exporter
    was up. A step with the exporter up and no series is an idle card; one with it down is an
    outage (the trace leaves it out). Only the card's node counts (`for_card`)."""
    where = host_of(config.url)
    query, up_query, _ = default_queries(config.card, config.node_label)
    query, up_query = config.query or query, config.up_query or up_query
    up = {when for _, points in _range(config, up_query, start, end, step_seconds) for when, value in points if value >= 1}
    rows: dict[datetime, list[PodUsage]] = defaultdict(list)
    series = _range(config, query, start, end, step_seconds)
    kept = {
        id(labels) for labels, _, _ in for_card([(labels, 0.0, 0.0) for labels, _ in series], config.card, config.node_label, where, query)
    }
    for labels, points in series:
        if id(labels) in kept:
            for when, value in points:
                rows[when].append(PodUsage(labels.get("namespace", ""), labels.get("pod", ""), int(value)))
    if not up:
        # Without the liveness series every step is an outage or an idle card: refuse, never guess.
        raise SourceError(
            f"metrics from {where}: the liveness query {up_query!r} answered nothing over the range, so no step can be "
            "told apart from an outage (is the exporter's job named otherwise? set --prometheus-up-query)"
        )
    return rows, up


def read_card_range(
    config: SourceConfig, queries: tuple[str, str | None, str], start: datetime, end: datetime, step_seconds: float
) -> tuple[dict[datetime, int], dict[datetime, int], dict[datetime, int]]:
    """A device-level exporter's night for one card, through Prometheus: the bytes held on the
    card, its compute processes (where the exporter counts them) and the server's replicas as the
    gate recorded them, each by step. `queries` (used, processes or None, replicas) each answer
    one series per card: an answer with several is several cards, which the card settings must
    tell apart."""
    where = host_of(config.url)
    used_query, processes_query, replicas_query = queries
    found = []
    for query in (used_query, processes_query, replicas_query):
        if query is None:
            found.append({})
            continue
        series = _range(config, query, start, end, step_seconds)
        if len(series) > 1:
            shown = "; ".join(str(labels)[:80] for labels, _ in series[:3])
            raise SourceError(
                f"metrics from {where}: {query!r} answers for {len(series)} series ({shown}): several cards or gates; "
                "set --card-node and --card-device (or the query)"
            )
        found.append({when: int(value) for _, points in series for when, value in points})
    used, processes, replicas = found
    if not used:
        raise SourceError(f"metrics from {where}: {used_query!r} answered nothing over the range (is the card right?)")
    if not replicas:
        raise SourceError(
            f"metrics from {where}: {replicas_query!r} answered nothing over the range: the gate's record of the server "
            "is needed to know when it held the card (set --prometheus-replicas-query)"
        )
    return used, processes, replicas
