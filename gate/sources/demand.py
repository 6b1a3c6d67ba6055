"""The demand probe: how much narration is waiting, from tripit's queue.

`GET http://tripit.tripit.svc.cluster.local:8080/api/tour/tts-queue` answers `{"queued": N}`
(unauthenticated, counts only; older tripit images answer 404). In production one transient
probe failure, read as "queue empty", idled the server the minute it first went Ready with 27
narrations waiting, and the probe failed about 5% of the time. So only an explicitly parsed,
whole, non-negative count is a reading; everything else (refused, timeout, non-2xx, not JSON,
no such field, a negative or non-integer count, a bool) is `Demand(None, why)`: no action.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from gate.policy import Demand
from gate.sources import SourceError
from gate.sources.scrape import fetch, host_of

# A queue answer is a few bytes; anything larger is not what the probe asked for.
MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class DemandConfig:
    url: str
    field: str = "queued"
    timeout_seconds: float = 5.0


def parse(body: bytes, field: str) -> Demand:
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Demand(None, "the answer is not JSON")
    if not isinstance(answer, dict) or field not in answer:
        return Demand(None, f"the answer has no {field!r} field")
    value = answer[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return Demand(None, f"{field!r} is {json.dumps(value)[:40]}, not a count")
    return Demand(value)


def read(config: DemandConfig) -> Demand:
    """Never raises: a probe that fails, in any way, is a Demand with no count, and says why."""
    try:
        body = fetch(config.url, config.timeout_seconds, MAX_BYTES)
        demand = parse(body, config.field)
    except SourceError as exc:
        return Demand(None, str(exc).replace("metrics from", "demand from", 1))
    except Exception as exc:  # a surprise is a failed probe: no action, never a crash
        return Demand(None, f"demand from {host_of(config.url)}: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}")
    if demand.queued is None:
        return Demand(None, f"demand from {host_of(config.url)}: {demand.problem}")
    return demand


class DemandProbe:
    """`read` with a memory: a failed probe carries the last count this probe read, and its age,
    so one failure among many (the owner's probe failed ~5% of the time) changes nothing."""

    def __init__(self, config: DemandConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.clock = clock
        self.last: tuple[int, float] | None = None

    def __call__(self) -> Demand:
        demand = read(self.config)
        now = self.clock()
        if demand.queued is not None:
            self.last = (demand.queued, now)
            return demand
        if self.last is None:
            return demand
        return replace(demand, last_queued=self.last[0], last_age_seconds=now - self.last[1])
