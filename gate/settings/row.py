"""What a row of the settings table is: a setting's kind, its choices, where a value came from,
the `Setting` row itself and how a size's or a duration's row is written (the rows: `table`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gate.sources import ALIASES, DEVICE_SOURCE_NAMES, SOURCE_NAMES


class Kind(StrEnum):
    SIZE = "size"
    DURATION = "duration"
    WINDOW = "window"
    TIMEZONE = "timezone"
    URL = "url"
    TEXT = "text"
    BOOL = "bool"
    CHOICE = "choice"


class Origin(StrEnum):
    """Where an effective value came from, in `resolve`'s order of precedence (last wins)."""

    DEFAULT = "default"
    FILE = "file"
    VARIABLE = "variable"
    FLAG = "flag"


class SourceName(StrEnum):
    GPU_POD_EXPORTER = "gpu-pod-exporter"
    DCGM = "dcgm"
    NVIDIA_GPU_EXPORTER = "nvidia_gpu_exporter"
    PROMETHEUS = "prometheus"


class DeviceSourceName(StrEnum):
    DCGM = "dcgm"
    NVIDIA_GPU_EXPORTER = "nvidia_gpu_exporter"


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"


# The sources' names are their one registry's (gate.sources.EXPORTERS), old names included.
assert tuple(SourceName) == SOURCE_NAMES and tuple(DeviceSourceName) == DEVICE_SOURCE_NAMES
DEVICE_ALIASES = tuple(alias for alias, name in ALIASES.items() if name in DEVICE_SOURCE_NAMES)

# What each kind is, as a refusal says it ("... is not <expected>; write <example>").
EXPECTED = {
    Kind.SIZE: "a size with a binary unit",
    Kind.DURATION: "a duration",
    Kind.WINDOW: "a window HH:MM-HH:MM on a 24-hour clock",
    Kind.TIMEZONE: "an IANA time zone",
    Kind.URL: "an http:// or https:// URL",
    Kind.TEXT: "text",
    Kind.BOOL: "true or false",
    Kind.CHOICE: "one of the choices",
}


@dataclass(frozen=True)
class Setting:
    key: str  # in the document, and under `gate` in the chart's values
    param: str  # the command line's parameter name
    env: str
    flag: str  # "--floor"; a boolean's "--on/--off"
    kind: Kind
    default: str | bool
    help: str
    example: str  # a value that works, for refusals
    metavar: str = ""
    choices: tuple[str, ...] = ()
    old_names: tuple[str, ...] = ()  # a choice's former names: accepted, read as the new one, logged at start
    empty: str | None = None  # what "" means (it is refused when None); the command line's word for it
    positive: bool = False  # a duration or size that must be above zero
    label: str = ""  # how the gate's one-line refusals name it ("demand idle-after")
    # Which commands read it: "card" (preflight, guard, run, status, check), "cluster" (every
    # live command), "log" (the loops), "run" or "guard" (one loop's own), "replay".
    group: str = "card"
    # The chart's default where it differs on purpose (the pods log JSON; a terminal reads text).
    chart_default: str | bool | None = None
    # A size's or a duration's bound: what it is meant for at most. Each number in a value may
    # have as many integer digits as the bound has in that unit, at most four parts (bounds.py);
    # the gate and the chart's schema share that one pattern.
    bound: str | None = None
    whole: bool = False  # a duration in whole units only (no fractions)
    # Free text's own form, where it has one (a node name, a label name): the gate's rule and the
    # schema's pattern; `form` says it in a refusal ("a Kubernetes node name"), `longest` caps it.
    pattern: str | None = None
    form: str = ""
    longest: int | None = None

    @property
    def name(self) -> str:
        return self.label or self.key

    @property
    def chart_value(self) -> str | bool:
        return self.default if self.chart_default is None else self.chart_default


def size_setting(key: str, param: str, env: str, default: str, help: str, **extra: Any) -> Setting:
    extra.setdefault("example", default)
    extra.setdefault("bound", "1TiB")  # more than any card has
    return Setting(key, param, env, "--" + param.replace("_", "-"), Kind.SIZE, default, help, metavar="SIZE", **extra)


def duration_setting(key: str, param: str, env: str, default: str, help: str, **extra: Any) -> Setting:
    extra.setdefault("example", "10s, 5m or 1m30s")
    return Setting(
        key, param, env, extra.pop("flag", "--" + param.replace("_", "-")), Kind.DURATION, default, help, metavar="DURATION", **extra
    )
