"""What the values mean: each value parsed once, where it came from (the file, a flag, a GATE_*
variable), every problem collected and refused at once, in one line that names each value's
origin and ends with the right form of it; then the precedence (`settle`: flag > variable >
file > default) and what one value cannot say alone."""

from __future__ import annotations

import functools
import json
import re
import reprlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from gate import formats, policy
from gate.settings import patterns
from gate.settings.row import EXPECTED, Kind, Origin, Setting, SourceName
from gate.settings.suggest import suggest
from gate.settings.table import BY_KEY, SETTINGS, defaults
from gate.sources import ALIASES, DEVICE_SOURCE_NAMES, exporter, provides_total, service_of
from gate.units import InvalidValue, format_size, parse_duration, parse_size, parse_timezone, parse_window

MAX_PROBLEMS = 8  # listed in one refusal; the rest are counted
MAX_PROBLEM_CHARS = 400

_shown = reprlib.Repr()
_shown.maxlevel, _shown.maxstring, _shown.maxother, _shown.maxlong = 2, 60, 60, 40
_shown.maxdict = _shown.maxlist = _shown.maxtuple = _shown.maxset = 3


def shown(value: Any) -> str:
    """A value as a refusal quotes it: bounded, whatever its size or depth."""
    return _shown.repr(value)


def clip(text: str, limit: int = MAX_PROBLEM_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Problem:
    """One refused value: its key, where it came from and what is wrong, with the right form."""

    key: str
    origin: Origin
    message: str  # what is wrong (no origin)
    write: str | bool | None = None  # the right form of the value, when there is one

    def text(self) -> str:
        setting = BY_KEY.get(self.key)
        if self.origin == Origin.FILE or setting is None:
            name, hint = f"{self.key}: ", (f"; write {self.key}: {_yaml(self.write)}" if self.write is not None else "")
        elif self.origin == Origin.FLAG:
            flag = _flag(setting, self.write)
            name, hint = f"{flag.split('/')[0]}: ", (f"; write {flag} {_word(setting, self.write)}" if self.write is not None else "")
            if setting.kind == Kind.BOOL and self.write is not None:
                hint = f"; write {flag}"
        elif self.origin == Origin.VARIABLE:
            name, hint = f"{setting.env}: ", (f"; write {setting.env}={_word(setting, self.write)}" if self.write is not None else "")
        else:
            name, hint = "", ""
        return clip(f"{name}{self.message}{hint}")


def _yaml(value: str | bool | None) -> str:
    return json.dumps(value)


def _word(setting: Setting, value: str | bool | None) -> str:
    """A value as the command line writes it: "" is the row's word (any, device, none)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return setting.empty if value == "" and setting.empty else str(value)


def _flag(setting: Setting, value: str | bool | None) -> str:
    if setting.kind == Kind.BOOL and "/" in setting.flag:
        on, off = setting.flag.split("/")
        return off if value is False else on
    return setting.flag


class InvalidSettings(InvalidValue):
    """Every problem of one set of values (a file's, or the command line's), refused at once in
    one line: the file's path first when they are the file's, then each problem."""

    def __init__(self, problems: Iterable[Problem], path: str | None = None):
        self.problems = tuple(problems)
        self.path = path
        texts = [p.text() for p in self.problems[:MAX_PROBLEMS]]
        if len(self.problems) > MAX_PROBLEMS:
            texts.append(f"and {len(self.problems) - MAX_PROBLEMS} more")
        prefix = f"{path}: " if path and any(p.origin == Origin.FILE for p in self.problems) else ""
        super().__init__(prefix + " | ".join(texts))


class _Refused(Exception):
    def __init__(self, message: str, write: str | bool | None):
        super().__init__(message)
        self.message, self.write = message, write


_PLACEHOLDER_ZONE = ZoneInfo("UTC")  # a window is bound to its zone once every value is known


def _meaning(setting: Setting, value: Any, origin: Origin) -> Any:
    """The value's meaning (None: the row's none), or _Refused with the right form."""

    def refuse(message: str) -> _Refused:
        return _Refused(message, suggest(setting, value))

    if setting.kind == Kind.BOOL:
        if not isinstance(value, bool):
            raise refuse(f"{shown(value)} is not true or false")
        return value
    if not isinstance(value, str):
        what = "null" if value is None else "a number" if isinstance(value, int | float) else type(value).__name__
        raise refuse(f"{shown(value)} is {what}, not {_expected(setting)}")
    if len(value) > patterns.MAX_TEXT:
        raise refuse(f"a value of {len(value)} characters, longer than any setting's ({patterns.MAX_TEXT})")
    if setting.empty is not None and (value == "" or (value == setting.empty and origin != Origin.FILE)):
        return None
    if setting.empty is not None and value == setting.empty:
        raise _Refused(f'{value!r} is the command line\'s word for none; in the file it is ""', "")
    try:
        return _parse(setting, value)
    except _BeyondBound as exc:
        raise _Refused(str(exc), setting.bound) from exc
    except InvalidValue as exc:
        raise refuse(str(exc)) from exc


def _expected(setting: Setting) -> str:
    return "one of " + ", ".join(setting.choices) if setting.choices else setting.form or EXPECTED[setting.kind]


class _BeyondBound(InvalidValue):
    pass


def _parse(setting: Setting, text: str) -> Any:
    """InvalidValue in the words the gate has always used (gate.units), the pattern first."""
    name = setting.name
    if setting.kind == Kind.SIZE:
        if not formats.matches("size", text):  # the right form ends the refusal: no example of another value here
            raise InvalidValue(
                f"invalid size {text!r}: expected a number with KiB, MiB, GiB or TiB (or Ki, Mi, Gi, Ti); "
                "bare numbers and decimal units (GB) are refused"
            )
        number = parse_size(text)
        _within(setting, text)
        if setting.positive and number <= 0:
            raise InvalidValue(f"invalid {name} {text!r}: expected more than zero")
        return number
    if setting.kind == Kind.DURATION:
        seconds = parse_duration(text)
        if setting.whole and not re.search(r"^([0-9]+|([0-9]+(ms|s|m|h))+)$", text):
            raise InvalidValue(f"invalid {name} {text!r}: expected whole units (the alerts use it in PromQL too), e.g. 5m or 1m30s")
        _within(setting, text)
        if setting.positive and seconds <= 0:
            raise InvalidValue(f"invalid {name} {text!r}: expected a positive duration, e.g. {setting.example}")
        return seconds
    if setting.kind == Kind.WINDOW:
        if not formats.matches("window", text):
            raise InvalidValue(f"invalid window {text!r}: expected HH:MM-HH:MM on a 24-hour clock (00:00 to 23:59)")
        return parse_window(text, _PLACEHOLDER_ZONE)
    if setting.kind == Kind.TIMEZONE:
        if not re.search(patterns.TIMEZONE, text):
            raise InvalidValue(f"invalid time zone {text!r}: expected an IANA name such as Europe/London or UTC")
        return parse_timezone(text)
    if setting.kind == Kind.URL:
        if not re.search(patterns.URL, text):
            raise InvalidValue(f"invalid {name} {text!r}: expected http:// or https://, e.g. {setting.example}")
        return text
    if setting.kind == Kind.CHOICE:
        if text in setting.old_names:
            return ALIASES[text]  # an old name: the one its source has now (the CLI logs it once)
        if text not in setting.choices:
            raise InvalidValue(f"invalid {name} {text!r}: expected one of {', '.join(setting.choices)}")
        return text
    if not text:
        raise InvalidValue(f"invalid {name} '': expected {setting.help.rstrip('.')}, e.g. {setting.example}")
    if setting.pattern is not None and (len(text) > patterns.longest(setting) or not re.fullmatch(setting.pattern, text)):
        example = "" if setting.example in setting.form else f", e.g. {setting.example}"
        longest = f" of at most {setting.longest} characters" if setting.longest else ""
        raise InvalidValue(f"invalid {name} {text!r}: expected {setting.form}{longest}{example}")
    return text


def _within(setting: Setting, text: str) -> None:
    if re.search(patterns.bounded(setting), text) is None:
        raise _BeyondBound(f"invalid {setting.name} {text!r}: {patterns.describe_bound(setting)}")


@dataclass(frozen=True)
class Given:
    """Values parsed, each once, by key: (meaning, as written, where from)."""

    values: Mapping[str, tuple[Any, Any, Origin]] = field(default_factory=dict)


def parse_values(raw: Mapping[str, tuple[Any, Origin]]) -> Given:
    """Each value's meaning, once; InvalidSettings with every problem (file keys unknown to
    the table included) at once."""
    parsed: dict[str, tuple[Any, Any, Origin]] = {}
    problems = []
    for key, (value, origin) in raw.items():
        setting = BY_KEY.get(key)
        if setting is None:
            problems.append(_unknown(key, value))
            continue
        try:
            parsed[key] = (_meaning(setting, value, origin), value, origin)
        except _Refused as refused:
            problems.append(Problem(key, origin, refused.message, refused.write))
    if problems:
        raise InvalidSettings(problems)
    return Given(parsed)


def _unknown(key: str, value: Any) -> Problem:
    import difflib

    near = difflib.get_close_matches(key, BY_KEY, n=1)
    hint = f"did you mean {near[0]}?" if near else f"expected one of {', '.join(BY_KEY)}"
    return Problem(key, Origin.FILE, f"unknown setting ({shown(value)}); {hint}")


@functools.cache
def parsed_defaults() -> Given:
    return parse_values({key: (value, Origin.DEFAULT) for key, value in defaults().items()})


@dataclass(frozen=True)
class Settled:
    """Every setting: its meaning (None for its none), as written, and where it came from."""

    values: Mapping[str, Any]
    raw: Mapping[str, Any]
    origins: Mapping[str, Origin]
    path: str | None = None


def settle(*layers: Given, path: str | None = None, needs_total: bool = True, fetches: bool = True) -> Settled:
    """The layers by precedence, lowest first (a document's, then the command line's), over the
    defaults; then what one value cannot say alone. `fetches` False (the replay) leaves out
    what only reading the sources needs (their URLs)."""
    chosen = dict(parsed_defaults().values)
    for layer in layers:
        chosen.update(layer.values)
    values = {key: meaning for key, (meaning, _, _) in chosen.items()}
    tz = values["timeZone"]
    for setting in SETTINGS:
        if setting.kind == Kind.WINDOW and values[setting.key] is not None:
            values[setting.key] = replace(values[setting.key], tz=tz)
    origins = {key: origin for key, (_, _, origin) in chosen.items()}
    problems = _across(values, {key: raw for key, (_, raw, _) in chosen.items()}, origins, needs_total, fetches)
    if problems:
        raise InvalidSettings(problems, path)
    return Settled(values, {key: raw for key, (_, raw, _) in chosen.items()}, origins, path)


def _across(
    values: Mapping[str, Any], raw: Mapping[str, Any], origins: Mapping[str, Origin], needs_total: bool, fetches: bool
) -> list[Problem]:
    """What one value cannot say alone; each problem named by the first key's origin (the value
    to change)."""
    problems = []

    def check(condition: bool, message: str, *keys: str) -> None:
        if not condition:
            from_file = any(origins.get(k) == Origin.FILE for k in keys)
            problems.append(Problem(keys[0], Origin.FILE if from_file else origins.get(keys[0], Origin.DEFAULT), message))

    source, device = values["source"], values["device.source"]
    check(
        not (device and source in DEVICE_SOURCE_NAMES),
        f"{device_beside_per_pod('--device-source', repr(device), '--source', repr(source))} (device.source beside source in the file)",
        "device.source",
        "source",
    )
    check(
        not fetches or not device or values["device.url"] is not None,
        f"--device-source {device!r} needs --device-url (GATE_DEVICE_URL): the exporter's /metrics URL (device.url in the file), "
        "e.g. http://nvidia-dcgm-exporter.gpu-operator.svc:9400/metrics",
        "device.url",
        "device.source",
    )
    check(
        not needs_total or values["total"] is not None or device is not None or provides_total(source),
        f"source {source!r} reports no device total: set GATE_TOTAL (total in the file; a T4 reports 15360MiB), or add a device source",
        "total",
        "source",
    )
    check(
        source != SourceName.PROMETHEUS or not str(raw["metricsUrl"]).rstrip("/").endswith("/metrics"),
        f"invalid metrics URL {shown(raw['metricsUrl'])} for source prometheus: expected the Prometheus base URL, not an "
        "exporter's /metrics, e.g. http://prometheus-server.monitoring.svc:80",
        "metricsUrl",
        "source",
    )
    total = values["total"]
    check(
        total is None or values["floor"] < total,
        f"invalid floor {shown(raw['floor'])}: it is not below the card's total {format_size(total)}, so the card could never be taken",
        "floor",
        "total",
    )
    _card_readable(values, check, fetches)
    return problems


def _card_readable(values: Mapping[str, Any], check: Callable[..., None], fetches: bool) -> None:
    """The card (node, device) readable with the sources chosen: a device told apart only by a
    source whose answers name the GPU, a node only by one that names it or is read at its pod on
    that node (through a Service's name)."""
    node, device = values["card.node"], values["card.device"]
    for key, url_key in (("source", "metricsUrl"), ("device.source", "device.url")):
        name = values[key]
        if name is None:
            continue
        found = exporter(name)
        check(
            device is None or found.labels_device,
            f"card device {device!r} with {key} {name!r}: its answers name no GPU, so it cannot tell this card from the node's "
            "others; on a node with several GPUs use dcgm or nvidia_gpu_exporter",
            "card.device",
            key,
        )
        url = values[url_key]
        check(
            not fetches or node is None or found.labels_node or url is None or service_of(url) is not None,
            f"card node {node!r} with {key} {name!r}: its answers name no node, so the gate reads its pod on that node "
            f"through its Service: {url_key} {url!r} must name the Service, e.g. http://<service>.<namespace>.svc:<port>/metrics",
            url_key,
            "card.node",
        )


def device_beside_per_pod(device_name: str, device: str, source_name: str, source: str) -> str:
    """The one wording of "a device source only beside a per-pod source", with the names and
    values as the caller shows them: the gate's refusal here, and templates/_settings.tpl's
    (which Helm renders itself; tests/test_defaults.py holds the two equal)."""
    return f"{device_name} {device} is a second opinion beside a per-pod source; {source_name} {source} is device-level already"


# -- the older entry points: a whole set of values at once ---------------------------------------


@dataclass(frozen=True)
class Resolved:
    """Every setting's value as written and where it came from (no meaning yet)."""

    values: Mapping[str, Any]
    origins: Mapping[str, Origin]
    path: str | None = None


def resolve(given: Mapping[str, tuple[Any, Origin]], document: Any = None) -> Resolved:
    """flag > variable > file > default, on the values as written (`document`: a Document)."""
    file_values = document.values if document is not None else {}
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for setting in SETTINGS:
        key = setting.key
        if key in given:
            values[key], origins[key] = given[key]
        elif key in file_values:
            values[key], origins[key] = file_values[key], Origin.FILE
        else:
            values[key], origins[key] = setting.default, Origin.DEFAULT
    return Resolved(values, origins, document.path if document is not None else None)


def parse(
    values: Mapping[str, Any], origins: Mapping[str, Origin], path: str | None, needs_total: bool = True, fetches: bool = True
) -> Settled:
    """A whole set of values as written (each origin's, by key) given its meaning: for the
    table's defaults and the replay's chart."""
    given = parse_values({key: (value, origins.get(key, Origin.DEFAULT)) for key, value in values.items()})
    return settle(given, path=path, needs_total=needs_total, fetches=fetches)


def policy_settings(parsed: Mapping[str, Any], namespace: str, deployment: str) -> policy.Settings:
    """The policy's settings from parsed ones: the one place they are built, for the live
    commands and `gate replay` alike."""
    demand = None
    if parsed["demand.url"]:
        demand = policy.DemandSettings(idle_after_seconds=parsed["demand.idleAfter"], window=parsed["demand.window"])
    return policy.Settings(
        namespace=namespace,
        deployment=deployment,
        floor_bytes=parsed["floor"],
        total_bytes=parsed["total"],
        window=parsed["window"],
        cooldown_seconds=parsed["cooldown"],
        cooldown_max_seconds=parsed["cooldownMax"],
        hysteresis_bytes=parsed["hysteresis"],
        max_age_seconds=parsed["maxAge"],
        empty_is_idle=parsed["emptyIsIdle"],
        startup_grace_seconds=parsed["startupGrace"],
        own_peak_bytes=parsed["ownPeak"],
        entry_margin_seconds=parsed["entryMargin"],
        demand=demand,
        enabled=parsed["enabled"],
        park=policy.ParkSettings(
            residue_bytes=parsed["park.residue"],
            max_parked_seconds=parsed["park.maxParked"],
            timeout_seconds=parsed["park.timeout"],
            cooldown_seconds=parsed["park.cooldown"],
        )
        if parsed["park.enabled"]
        else None,
    )
