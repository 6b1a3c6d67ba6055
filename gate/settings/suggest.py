"""The right form of a value that was refused, for the refusal to end with: `6.5` was meant as
6.5 GiB (`6656MiB`), `16GB` as `16GiB`, `00:00-24:00` as `""` (any time), `10sec` as `10s`,
`Europe/Londn` as `Europe/London`. What cannot be read as anything is answered with the row's
example. Every function here is pure, and bounded by the value's length (the caller caps it)."""

from __future__ import annotations

import difflib
import functools
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from gate.settings.patterns import DURATION_UNITS, SIZE_UNITS
from gate.settings.row import Kind, Setting

_SIZE_WORD = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT])(?:i?B?|i?b?)?\s*$", re.IGNORECASE)
_DURATION_WORDS = {
    "ms": ("ms", "msec", "msecs", "millisecond", "milliseconds"),
    "s": ("s", "sec", "secs", "second", "seconds"),
    "m": ("m", "min", "mins", "minute", "minutes"),
    "h": ("h", "hr", "hrs", "hour", "hours"),
    "d": ("d", "day", "days"),
}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([a-z]+)", re.IGNORECASE)
_CLOCK = r"([0-9]{1,2})(?::([0-9]{2}))?\s*(am|pm)?"
_WINDOW_WORDS = re.compile(rf"^\s*{_CLOCK}\s*(?:-|–|to)\s*{_CLOCK}\s*$", re.IGNORECASE)
_TRUE, _FALSE = ("true", "yes", "y", "on", "1"), ("false", "no", "n", "off", "0")


def suggest(setting: Setting, value: Any) -> str | bool:
    """What to write instead of `value` (a refused one)."""
    fallback: str | bool = setting.default if setting.default not in ("", None) else setting.example.split(" or ")[0].split(", ")[0]
    if setting.kind == Kind.BOOL:
        word = str(value).strip().lower()
        return True if word in _TRUE else False if word in _FALSE else fallback
    if setting.kind == Kind.CHOICE:
        word = str(value).strip().lower()
        inside = sorted((c for c in setting.choices if c in word), key=len, reverse=True)  # dcgm-exporter: dcgm
        near = inside or difflib.get_close_matches(word, setting.choices, n=1, cutoff=0.5)
        return near[0] if near else fallback
    if setting.kind == Kind.TIMEZONE:
        return _zone(str(value)) or fallback
    if setting.empty is not None and str(value).strip().lower() in (setting.empty, "none", "any", "always", "null"):
        return ""
    found = {Kind.SIZE: _size, Kind.DURATION: _duration, Kind.WINDOW: _window, Kind.URL: _url}.get(setting.kind, lambda _: None)(value)
    return found if found is not None and (found != "" or setting.empty is not None) else fallback


def _decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def format_bytes(count: Decimal) -> str:
    """Bytes in the largest binary unit that writes them whole (MiB, rounded, below that)."""
    for unit, size in SIZE_UNITS:
        if count >= size and count % size == 0:
            return f"{int(count // size)}{unit}"
    return f"{max(1, round(count / 2**20))}MiB"


def _size(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    text = str(value).strip()
    number = _decimal(text.lstrip("+-"))
    if number is not None:
        # A bare number: GiB when small (6.5), MiB in the thousands (6144), bytes when large.
        scale = 2**30 if number < 2**10 else 2**20 if number < 2**20 else 1
        return format_bytes(number * scale) if number > 0 else None
    match = _SIZE_WORD.match(text.lstrip("+-"))
    if match is None:
        return None
    unit = match.group(2).upper() + "iB"
    return f"{match.group(1)}{unit}"


def _duration(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    text = str(value).strip().lower().lstrip("+-")
    number = _decimal(text)
    if number is not None:
        return f"{number.normalize():f}s"
    pieces = _DURATION_PART.findall(text)
    if not pieces or _DURATION_PART.sub("", text).strip(" ,and") != "":
        return None
    words = {word: unit for unit, spellings in _DURATION_WORDS.items() for word in spellings}
    seconds = Decimal(0)
    for amount, word in pieces:
        unit = words.get(word)
        if unit is None:
            return None
        seconds += Decimal(amount) * (86400 if unit == "d" else Decimal(str(dict(DURATION_UNITS)[unit])))
    return format_seconds(seconds)


def format_seconds(seconds: Decimal) -> str:
    """The shortest whole-unit form: 90 -> 1m30s, 86400 -> 24h, 0.5 -> 500ms."""
    if seconds != seconds.to_integral_value():
        return f"{int(seconds * 1000)}ms" if (seconds * 1000) == (seconds * 1000).to_integral_value() else f"{seconds.normalize():f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


def _clock(hour: str, minute: str | None, meridiem: str | None) -> tuple[int, int] | None:
    h, m = int(hour), int(minute or 0)
    if meridiem:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if meridiem.lower() == "pm" else 0)
    return (h, m) if 0 <= h <= 24 and 0 <= m < 60 and not (h == 24 and m) else None


def _window(value: Any) -> str | None:
    match = _WINDOW_WORDS.match(str(value))
    if match is None:
        return None
    start, end = _clock(*match.groups()[:3]), _clock(*match.groups()[3:])
    if start is None or end is None:
        return None
    start, end = (start[0] % 24, start[1]), (end[0] % 24, end[1])
    if start == end:
        return ""  # 00:00-24:00, or a start that is its end: any time
    return f"{start[0]:02d}:{start[1]:02d}-{end[0]:02d}:{end[1]:02d}"


def _url(value: Any) -> str | None:
    text = str(value).strip()
    if not text or "://" in text or " " in text:
        return None
    return "http://" + text


@functools.cache
def _zones() -> tuple[str, ...]:
    import zoneinfo

    return tuple(sorted(zoneinfo.available_timezones()))


def _zone(text: str) -> str | None:
    zones = _zones()
    by_lower = {z.lower(): z for z in zones}
    if text.strip().lower() in by_lower:
        return by_lower[text.strip().lower()]
    near = difflib.get_close_matches(text.strip(), zones, n=1, cutoff=0.6)
    return near[0] if near else None
