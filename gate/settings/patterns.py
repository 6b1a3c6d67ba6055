"""Each setting's pattern: what a value may look like, the one rule the gate matches first and
the chart's values.schema.json carries (`make settings`), so a value the chart renders is a value
the gate reads.

A size or a duration is bounded by its row's `bound`, the most it is meant for: each number in
the value may have as many integer digits as the bound has in that number's unit, and a duration
at most four parts. A pattern cannot add up `1h30m`, so the bound is a count of digits, which it
can say exactly; `ceiling` is the largest value that can then be written (for `controller.interval`,
bound 1h: 9h, 99m, 9999s, 9999999ms a part, under 40 h in all), and tests/test_defaults.py holds
every ceiling within what the runtime honours (a wait, a datetime, a 64-bit count of bytes).
"""

from __future__ import annotations

from gate import formats
from gate.settings.row import Kind, Setting
from gate.units import parse_duration, parse_size

URL = r"^https?://.+"
# The shape of an IANA name; whether it exists, the gate asks its zone database.
TIMEZONE = r"^(UTC|[A-Z][A-Za-z_-]+(/[A-Za-z0-9_+-]+){1,2})$"
# No setting needs more (a PromQL query is the longest); a longer value is refused unread.
MAX_TEXT = 4096
MAX_PARTS = 4

SIZE_UNITS = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))
SIZE_ALIASES = {"TiB": "Ti", "GiB": "Gi", "MiB": "Mi", "KiB": "Ki"}  # Kubernetes' spellings
DURATION_UNITS = (("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001))
_ALTERNATION_ORDER = ("ms", "s", "m", "h")  # "ms" before "m", so a part is read as written


def bound_value(setting: Setting) -> float:
    """The bound in bytes or seconds."""
    assert setting.bound is not None
    return parse_size(setting.bound) if setting.kind == Kind.SIZE else parse_duration(setting.bound)


def digits(setting: Setting) -> dict[str, int]:
    """How many integer digits a number may have in each unit (0: the unit is not allowed);
    "" is a duration's bare seconds."""
    top = bound_value(setting)
    units = SIZE_UNITS if setting.kind == Kind.SIZE else (*DURATION_UNITS, ("", 1.0))
    return {unit: len(str(int(top // size))) if top >= size else 0 for unit, size in units}


def _number(count: int, whole: bool) -> str:
    digits_ = "[0-9]" if count == 1 else rf"[0-9]{{1,{count}}}"
    return digits_ + ("" if whole else r"(\.[0-9]+)?")


def bounded(setting: Setting) -> str:
    """The pattern of a size or a duration within its bound."""
    allowed = digits(setting)
    if setting.kind == Kind.SIZE:
        parts = [f"{_number(n, False)}({unit}|{SIZE_ALIASES[unit]})" for unit, n in allowed.items() if n]
        return "^(" + "|".join(parts) + ")$"
    by_unit = {unit: n for unit, n in allowed.items() if unit and n}
    parts = [f"{_number(by_unit[unit], setting.whole)}{unit}" for unit in _ALTERNATION_ORDER if unit in by_unit]
    return f"^({_number(allowed[''], setting.whole)}|({'|'.join(parts)}){{1,{MAX_PARTS}}})$"


def ceiling(setting: Setting) -> float:
    """The least value no text the pattern admits reaches (bytes or seconds)."""
    allowed = digits(setting)
    if setting.kind == Kind.SIZE:
        return max(10**n * dict(SIZE_UNITS)[unit] for unit, n in allowed.items() if n)
    sizes = dict(DURATION_UNITS)
    largest_part = max(10**n * sizes[unit] for unit, n in allowed.items() if unit and n)
    return max(MAX_PARTS * largest_part, 10 ** allowed[""])


def describe_bound(setting: Setting) -> str:
    """ "meant for up to 1h: numbers of at most 1 digit for h, 2 for m, ..." for a refusal."""
    (unit, count), *rest = [(unit, n) for unit, n in digits(setting).items() if unit and n]
    others = "".join(f", {n} for {u}" for u, n in rest)
    return f"meant for up to {setting.bound}: numbers of at most {count} digit{'s' * (count > 1)} for {unit}{others}"


def pattern(setting: Setting) -> str | None:
    """The whole value's pattern ("" included where it means none); None for a bool, a choice
    (an enum) and free text without a form of its own (a query, a field name)."""
    inner = {
        Kind.SIZE: bounded,
        Kind.DURATION: bounded,
        Kind.WINDOW: lambda _: formats.WINDOW,
        Kind.TIMEZONE: lambda _: TIMEZONE,
        Kind.URL: lambda _: URL,
        Kind.TEXT: lambda s: s.pattern,
    }.get(setting.kind)
    if inner is None:
        return None
    text = inner(setting)
    if text is None:
        return None
    return f"^$|{text}" if setting.empty is not None else text


def longest(setting: Setting) -> int:
    """The most characters a value may have: its row's cap, else any setting's."""
    return setting.longest or MAX_TEXT
