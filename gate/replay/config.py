"""What one replay replays: the policy, its settings, the schedule, the simulated pod and
exporter, a queue trace, pause spans; and the window its nights are accounted in."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo

from gate.policy import Settings
from gate.replay.clock import epoch
from gate.replay.schedule import Schedules
from gate.replay.world import DemandTrace, ExporterModel, PodModel
from gate.units import InvalidValue, Window, parse_instant

POLICIES = ("gate", "seed", "reactive")
DEMAND_HEADER = ["timestamp", "queued"]


@dataclass(frozen=True)
class ReplayConfig:
    policy: str
    settings: Settings
    schedules: Schedules
    pod: PodModel
    exporter: ExporterModel = ExporterModel()
    demand: DemandTrace | None = None
    demand_failure_every: int = 0  # every N-th probe fails (0: none)
    # Epoch-second spans [start, end) in which the gate is paused from the Lease (`gate pause`).
    paused_spans: tuple[tuple[int, int], ...] = ()
    # The wall clock of the nights' accounting and the CronJobs when there is no window.
    timezone: ZoneInfo | None = None
    # Synthesis seconds per second of audio, for the narration a night made (the ledger's).
    realtime_factor: float = 1.0


def accounting_window(config: ReplayConfig) -> Window:
    """The window, or with none (any time) the whole day from local midnight: a night is then a
    local date, and every second is inside."""
    if config.settings.window is not None:
        return config.settings.window
    if config.timezone is None:
        raise InvalidValue("gate replay without a window needs the time zone of its nights (--timezone)")
    return Window(time(0), time(0), config.timezone)


def parse_demand_csv(text: str, name: str = "demand") -> DemandTrace:
    """`timestamp,queued` rows: the queue's depth from each time on."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != DEMAND_HEADER:
        raise InvalidValue(f"{name}: expected the header {','.join(DEMAND_HEADER)}, got {','.join(header or [])!r}")
    rows = []
    for number, row in enumerate(reader, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2 or not row[1].strip().isdigit():
            raise InvalidValue(f"{name} line {number}: expected a time and a whole number of queued items, got {','.join(row)!r}")
        try:
            when = parse_instant(row[0].strip())
        except InvalidValue as exc:
            raise InvalidValue(f"{name} line {number}: {exc}") from exc
        rows.append((epoch(when), int(row[1])))
    if not rows:
        raise InvalidValue(f"{name}: no rows")
    return DemandTrace(tuple(sorted(rows)))
