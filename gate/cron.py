"""Five-field cron schedules as the CronJob controller (robfig/cron v3) reads them, evaluated on
the local wall clock of a time zone. Pure: `fire_times` lists when a schedule fires.

On the spring-forward night a local time that does not exist never matches (the run is skipped
until the next day); on the autumn night a repeated local time matches twice (it runs twice,
kubernetes/kubernetes#121594). Walking UTC minutes and matching their local time gives exactly
that.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from gate import formats
from gate.units import InvalidValue

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
