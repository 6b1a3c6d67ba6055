"""Parsing and formatting of the values operators type: sizes, durations, windows, times.

Every parser raises `InvalidValue` with a message naming the value and what was expected,
so the CLI can print it as one line and exit with the usage status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gate import formats


class InvalidValue(ValueError):
    """A value given by the operator that cannot mean anything."""


_SIZE_UNITS = {
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    # Kubernetes quantity spellings, because chart users write them out of habit.
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_SIZE_RE = re.compile(formats.SIZE)


def parse_size(text: str) -> int:
    """'6GiB', '6144MiB', '1.5Gi' -> bytes. A bare number and decimal units are refused."""
    match = _SIZE_RE.fullmatch(str(text))
    if not match:
        raise InvalidValue(
            f"invalid size {text!r}: expected a number with KiB, MiB, GiB or TiB (or Ki, Mi, Gi, Ti), e.g. 6GiB or 6144MiB; "
            "bare numbers and decimal units (GB) are refused"
        )
    number = Decimal(match.group(0)[: -len(match.group(2))])
    return int(number * _SIZE_UNITS[match.group(2)])


def parse_floor(text: str, total_bytes: int | None) -> int:
    """The floor: a size above zero and, when the card's total is known, below it (a floor at or
    above the total means the gate can never take the card)."""
    floor = parse_size(text)
    if floor <= 0:
        raise InvalidValue(f"invalid floor {text!r}: expected more than zero (the server's measured peak plus headroom)")
    if total_bytes is not None and floor >= total_bytes:
        raise InvalidValue(
            f"invalid floor {text!r}: it is not below the card's total {format_size(total_bytes)}, so the card could never be taken"
        )
    return floor


def format_size(n_bytes: int | float | None) -> str:
    """Bytes as GiB with two decimals ('4.50 GiB'); '-' for unknown."""
    if n_bytes is None:
        return "-"
    return f"{n_bytes / 2**30:.2f} GiB"


_DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_DURATION_SECONDS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}


def parse_duration(text: str) -> float:
    """'10s', '5m', '1m30s', '500ms', '90' (seconds) -> seconds."""
    raw = str(text)
    if not formats.matches("duration", raw):
        raise InvalidValue(f"invalid duration {text!r}: expected a number of seconds or parts like 10s, 5m, 1h, 1m30s")
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", raw):
        return float(raw)
    parts = _DURATION_PART_RE.findall(raw)
    return float(sum(Decimal(number) * _DURATION_SECONDS[unit] for number, unit in parts))


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


@dataclass(frozen=True)
class Window:
    """A daily wall-clock window [start, end) in a time zone; it may wrap past midnight."""

    start: time
    end: time
    tz: ZoneInfo

    def contains(self, instant: datetime) -> bool:
        """Whether `instant` (aware) falls inside the window on the local wall clock.

        The comparison is on the local wall clock, so the nights the clocks change behave as a
        person reading a wall clock expects: on the spring night local times that do not exist
        are never inside, and on the autumn night the repeated hour is inside both times.
        """
        local = instant.astimezone(self.tz).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def seconds_left(self, instant: datetime) -> float | None:
        """Real seconds from `instant` to the window's end; None outside the window. The end is
        the next local wall-clock `end`, so a night the clocks change is an hour shorter or longer."""
        if not self.contains(instant):
            return None
        local = instant.astimezone(self.tz).replace(tzinfo=None)
        end = datetime.combine(local.date(), self.end)
        if end <= local:
            end += timedelta(days=1)
        return (end.replace(tzinfo=self.tz).astimezone(UTC) - instant.astimezone(UTC)).total_seconds()

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.tz.key}"


def parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidValue(f"invalid time zone {name!r}: expected an IANA name such as Europe/London or UTC") from exc


def parse_window(text: str, tz: ZoneInfo) -> Window:
    """'02:00-06:00' -> Window; start == end is refused (empty or whole day is ambiguous)."""
    if not formats.matches("window", str(text)):
        raise InvalidValue(f"invalid window {text!r}: expected HH:MM-HH:MM on a 24-hour clock, e.g. 02:00-06:00")
    # The pattern admits only valid hours and minutes: what is left is to read them.
    start, end = (time(*(int(n) for n in part.split(":"))) for part in str(text).split("-"))
    if start == end:
        raise InvalidValue(f"invalid window {text!r}: start equals end; leave the window unset for no time restriction")
    return Window(start, end, tz)


def parse_instant(text: str) -> datetime:
    """RFC 3339 ('2026-11-12T02:00:00Z' or with an offset) -> an aware UTC datetime."""
    raw = str(text).strip()
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InvalidValue(f"invalid time {text!r}: expected RFC 3339, e.g. 2026-11-12T02:00:00Z") from exc
    if parsed.tzinfo is None:
        raise InvalidValue(f"invalid time {text!r}: a UTC offset or Z is required")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:00:00-05:00: past the last instant Python can hold
        raise InvalidValue(f"invalid time {text!r}: outside the years 1-9999 in UTC") from exc


def format_instant(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
