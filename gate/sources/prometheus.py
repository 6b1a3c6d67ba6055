"""A Prometheus server's HTTP API: an instant query whose result maps to residents.

The query (default: `gpu_pod_memory_used_bytes` summed by namespace and pod) must return a
vector; series with `namespace` and `pod` labels are pods, others count as unattributed.
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
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from gate.policy import PodUsage, Reading
from gate.sources import SourceConfig, SourceError, by_pod
from gate.sources.scrape import fetch, host_of

DEFAULT_QUERY = "sum by (namespace, pod) (gpu_pod_memory_used_bytes)"
# The owner's Prometheus scrapes gpu-pod-exporter as job `gpu-pod-memory`.
DEFAULT_UP_QUERY = 'max(up{job="gpu-pod-memory"})'
DEFAULT_SAMPLED_QUERY = 'max(timestamp(up{job="gpu-pod-memory"}))'


# A sample that is not what the HTTP API documents: a missing key, a wrong type, a bad number.
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _result(body: bytes, where: str, query: str, result_type: str) -> list:
    """The `data.result` list of a successful query answer of `result_type`, or a SourceError."""
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"metrics from {where}: answer to {query!r} is not JSON") from exc
    if not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error", "no status") if isinstance(answer, dict) else "not an object"
        raise SourceError(f"metrics from {where}: query {query!r} failed: {' '.join(str(error).split())[:160]}")
    data = answer.get("data")
    kind = data.get("resultType") if isinstance(data, dict) else None
    if kind != result_type or not isinstance(data.get("result"), list):
        raise SourceError(f"metrics from {where}: query {query!r} returned {kind!r}, expected a {result_type}")
    return data["result"]


def parse_vector(body: bytes, where: str, query: str) -> list[tuple[dict[str, str], float, float]]:
    """A `/api/v1/query` answer -> [(labels, value, timestamp)], every value checked."""
    rows = []
    seen = set()
    for item in _result(body, where, query, "vector"):
        try:
            labels = {str(k): str(v) for k, v in item["metric"].items()}
            stamp, text = item["value"]
            value, stamp = float(text), float(stamp)
        except _MALFORMED as exc:
            raise SourceError(f"metrics from {where}: malformed sample in answer to {query!r}") from exc
        key = tuple(sorted(labels.items()))
        if key in seen:
            raise SourceError(f"metrics from {where}: duplicate series {labels} in answer to {query!r}")
        seen.add(key)
        if not math.isfinite(value) or value < 0:
            raise SourceError(f"metrics from {where}: {labels} is {text}, expected a finite non-negative number")
        rows.append((labels, value, stamp))
    return rows


def parse(body: bytes, where: str, query: str = DEFAULT_QUERY, sampled_at: datetime | None = None) -> Reading:
    """The usage query's answer; `sampled_at` is when the exporter was last scraped (an instant
    query's own timestamps are only its evaluation time)."""
    rows = parse_vector(body, where, query)
    pods, unattributed = by_pod((labels, value) for labels, value, _ in rows)
    return Reading(pods=pods, unattributed_bytes=unattributed, sampled_at=sampled_at, empty=not rows)


def parse_sampled_at(body: bytes, where: str, query: str) -> datetime:
    """The answer to the scrape-time query: one series whose value is a Unix time."""
    rows = parse_vector(body, where, query)
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


def check_up(body: bytes, where: str, query: str) -> None:
    rows = parse_vector(body, where, query)
    best = max((value for _, value, _ in rows), default=None)
    if best is None or best < 1:
        answered = "nothing" if best is None else f"{best:g}"
        raise SourceError(
            f"metrics from {where}: the exporter is not up ({query!r} answered {answered}); "
            "set GATE_PROMETHEUS_UP_QUERY if its job is named otherwise"
        )


class Source:
    name = "prometheus"
    provides_total = False

    def __init__(self, config: SourceConfig):
        self.config = config
        self.query = config.query or DEFAULT_QUERY
        self.up_query = config.up_query or DEFAULT_UP_QUERY
        self.sampled_query = config.sampled_query or DEFAULT_SAMPLED_QUERY

    def _query(self, query: str, deadline: float) -> bytes:
        url = self.config.url.rstrip("/") + "/api/v1/query"
        left = deadline - time.monotonic()
        if left <= 0:
            raise SourceError(f"metrics from {host_of(self.config.url)}: no complete answer within {self.config.timeout_seconds:g}s")
        return fetch(url, left, self.config.max_bytes, params={"query": query})

    def read(self) -> Reading:
        """Three queries within one timeout: the read as a whole has the deadline a scrape has."""
        where = host_of(self.config.url)
        deadline = time.monotonic() + self.config.timeout_seconds
        check_up(self._query(self.up_query, deadline), where, self.up_query)
        sampled_at = parse_sampled_at(self._query(self.sampled_query, deadline), where, self.sampled_query)
        return parse(self._query(self.query, deadline), where, self.query, sampled_at)


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


def read_range(
    config: SourceConfig, start: datetime, end: datetime, step_seconds: float
) -> tuple[dict[datetime, list[PodUsage]], set[datetime]]:
    """Usage by pod at every evaluation step in [start, end], and the steps at which the exporter
    was up. A step with the exporter up and no series is an idle card; one with it down is an
    outage (the trace leaves it out)."""
    where = host_of(config.url)
    query = config.query or DEFAULT_QUERY
    up_query = config.up_query or DEFAULT_UP_QUERY
    url = config.url.rstrip("/") + "/api/v1/query_range"
    rows: dict[datetime, list[PodUsage]] = defaultdict(list)
    up: set[datetime] = set()
    chunk = timedelta(seconds=step_seconds * _MAX_POINTS)
    cursor = start
    while cursor <= end:
        until = min(end, cursor + chunk)
        params = {"start": f"{cursor.timestamp():.3f}", "end": f"{until.timestamp():.3f}", "step": f"{step_seconds:g}"}
        for labels_query, sink in ((up_query, "up"), (query, "rows")):
            body = fetch(url, config.timeout_seconds, config.max_bytes, params={**params, "query": labels_query})
            for labels, points in parse_matrix(body, where, labels_query):
                for stamp, value in points:
                    when = datetime.fromtimestamp(stamp, UTC)
                    if sink == "up":
                        if value >= 1:
                            up.add(when)
                    else:
                        rows[when].append(PodUsage(labels.get("namespace", ""), labels.get("pod", ""), int(value)))
        cursor = until + timedelta(seconds=step_seconds)
    if not up:
        # Without the liveness series every step is an outage or an idle card: refuse, never guess.
        raise SourceError(
            f"metrics from {where}: the liveness query {up_query!r} answered nothing over the range, so no step can be "
            "told apart from an outage (is the exporter's job named otherwise? set --prometheus-up-query)"
        )
    return rows, up
