"""Five-field cron schedules as the CronJob controller (robfig/cron v3) reads them, evaluated on
the local wall clock of a time zone. Pure: `fire_times` lists when a schedule fires.

On the spring-forward night a local time that does not exist never matches (the run is skipped
until the next day); on the autumn night a repeated local time matches twice (it runs twice,
kubernetes/kubernetes#121594). Walking UTC minutes and matching their local time gives exactly
that.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gate import formats
from gate.units import InvalidValue, Window

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_restricted: bool
    weekdays_restricted: bool

    def matches(self, local: datetime) -> bool:
        if local.minute not in self.minutes or local.hour not in self.hours or local.month not in self.months:
            return False
        day = local.day in self.days
        weekday = (local.isoweekday() % 7) in self.weekdays
        # As in cron: when both day fields are restricted, either may match.
        if self.days_restricted and self.weekdays_restricted:
            return day or weekday
        return day and weekday


def _field(text: str, name: str, low: int, high: int, schedule: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        # formats.SCHEDULE admitted only numbers in range, ranges and steps: what it cannot say is
        # a range that runs backwards.
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            start, end = (int(x) for x in base.split("-", 1))
        else:
            start = int(base)
            end = high if step_text else start
        if step < 1 or not (low <= start <= high) or not (low <= end <= high) or start > end:
            raise InvalidValue(f"invalid schedule {schedule!r}: {name} {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_cron(text: str) -> Cron:
    if not formats.matches("schedule", text):
        raise InvalidValue(
            f"invalid schedule {text!r}: expected five fields of numbers, ranges, lists and steps "
            "(minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6) or @daily"
        )
    expanded = _MACROS.get(text, text)
    fields = expanded.split(" ")
    parsed = [_field(f, name, low, high, text) for f, (name, low, high) in zip(fields, _FIELDS, strict=True)]
    return Cron(text, *parsed, days_restricted=fields[2] not in ("*", "?"), weekdays_restricted=fields[4] not in ("*", "?"))


def fire_times(cron: Cron, tz: ZoneInfo, start: datetime, end: datetime) -> Iterator[datetime]:
    """UTC instants in [start, end) at which the schedule fires, in order."""
    minute = start.astimezone(UTC).replace(second=0, microsecond=0)
    if minute < start:
        minute += timedelta(minutes=1)
    while minute < end:
        if cron.matches(minute.astimezone(tz)):
            yield minute
        minute += timedelta(minutes=1)


# The guard's step over the window's hours: the smallest that keeps it at 48 runs a day or fewer.
_GUARD_STEPS = (5, 6, 10, 12, 15, 20, 30)
# With no window (any time) the card may be held at any hour, so the guard runs all day: every 30
# minutes is 48 runs, the budget a window's guard keeps (the sidecar and the controller react
# within seconds; this only covers both being gone).
ANY_TIME_GUARD = "*/30 * * * *"


def chart_schedules(window: Window | None) -> tuple[str | None, str, str | None]:
    """(window-up, guard, window-down) for the chart's CronJobs, from gate.window: window-up at the
    window's start, window-down at its end, the guard over the hours the window touches. The one
    derivation: the chart reads the guard from the table `guard_schedules` generates
    (chart/files/gate-constants.json) and `gate replay` calls this, so a replay of the chart's
    settings document fires what the cluster's CronJobs fire (tests/test_chart_schedules.py
    renders both). No window (any time): no window-up or window-down, and the guard all day."""
    if window is None:
        return None, ANY_TIME_GUARD, None
    start = window.start.hour * 60 + window.start.minute
    end = window.end.hour * 60 + window.end.minute
    first, last = start // 60, ((end + 1439) % 1440) // 60  # the hour of the window's last minute
    wraps = start > end and end != 0  # past midnight: from the start to 23, then from 0
    hours = list(dict.fromkeys([*range(first, 24), *range(0, last + 1)])) if wraps else list(range(first, last + 1))
    step = next(s for s in _GUARD_STEPS if len(hours) * (60 // s) <= 48)
    return f"{start % 60} {start // 60} * * *", f"*/{step} {_hour_field(hours)} * * *", f"{end % 60} {end // 60} * * *"


def guard_key(start: time, end: time) -> str:
    """What the guard's schedule depends on, in the words the chart reads off gate.window
    (templates/_window.tpl builds the same key): the start hour, the end hour, whether the end is
    on the hour (":00": that hour is not touched) and whether the window runs past midnight
    (" overnight": its start is later than its end). 02:30-06:15 is "2-6"; 22:00-04:00 is
    "22-4:00 overnight"."""
    return f"{start.hour}-{end.hour}{':00' if end.minute == 0 else ''}{' overnight' if start > end else ''}"


def guard_schedules() -> dict[str, str]:
    """guard_key -> the guard chart_schedules derives, for every window: what the chart looks its
    guard up in. Built from windows at minutes 0, 1, 30 and 59 of every start and end hour, which
    give every key; a key whose windows disagree is a derivation the key no longer describes, and
    stops the generator."""
    table: dict[str, str] = {}
    minutes = (0, 1, 30, 59)
    for start_hour, start_minute, end_hour, end_minute in itertools.product(range(24), minutes, range(24), minutes):
        start, end = time(start_hour, start_minute), time(end_hour, end_minute)
        if start == end:
            continue
        guard = chart_schedules(Window(start, end, ZoneInfo("UTC")))[1]
        key = guard_key(start, end)
        if table.setdefault(key, guard) != guard:
            raise AssertionError(f"guard_key {key!r} stands for two guards ({table[key]!r}, {guard!r}): update guard_key and _window.tpl")
    return table


def _hour_field(hours: list[int]) -> str:
    """[22, 23, 0, 1] -> "22-23,0-1"; all 24 -> "*"."""
    if len(hours) == 24:
        return "*"
    runs: list[list[int]] = []
    for hour in hours:
        if runs and hour == runs[-1][-1] + 1:
            runs[-1].append(hour)
        else:
            runs.append([hour])
    return ",".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)
