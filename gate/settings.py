"""The gate's settings: one table, one document, one precedence.

`SETTINGS` is the one definition of every setting: its key in the settings document (the chart's
value under `gate`, so `demand.url` is `gate.demand.url`), its kind, its default, its help, its
GATE_* variable and its flag. Everything else is derived from it or tested against it: the
command line's options (gate/cli/options.py), the document's validation (`load`), the chart's
`values.yaml` defaults and `files/gate-settings.json` (which the chart's templates validate
with), and `policy.Settings`' defaults.

The document is YAML holding only the gate's settings (the chart renders it into the ConfigMap
`<release>-gate-config`, key `gate.yaml`). `load` validates the whole of it before anything uses
it: an unknown key, a wrong type or a value that cannot mean anything is one line naming the
key, what was given and what is expected, with an example.

Precedence, in `resolve` only: a flag beats its variable, which beats the file, which beats the
default.

Adding a setting: one `Setting` row here, its value (with its `## @param` line) in
chart/values.yaml, the code that uses it and its test; `make settings chart-readme` regenerates
what the chart derives (files/gate-settings.json, values.schema.json's description, the README
table; tests/test_defaults.py fails until they are). The command line's option, the document's
validation, the ConfigMap's key, the chart's one-line refusal and `check-config` follow from
the row.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gate import formats, policy
from gate.sources import DEVICE_SOURCE_NAMES, SOURCE_NAMES, provides_total
from gate.units import InvalidValue, parse_duration, parse_floor, parse_size, parse_timezone, parse_window


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
    NVIDIA_SMI = "nvidia-smi"
    PROMETHEUS = "prometheus"


class DeviceSourceName(StrEnum):
    DCGM = "dcgm"
    NVIDIA_SMI = "nvidia-smi"


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"


assert tuple(SourceName) == SOURCE_NAMES and tuple(DeviceSourceName) == DEVICE_SOURCE_NAMES

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
    empty: str | None = None  # what "" means (it is refused when None)
    positive: bool = False  # a duration or size that must be above zero
    label: str = ""  # how the gate's one-line refusals name it ("demand idle-after")
    # Which commands read it: "card" (preflight, guard, run, status, check), "cluster" (every
    # live command), "log" (the loops), "run" or "guard" (one loop's own), "replay".
    group: str = "card"
    # The chart's default where it differs on purpose (the pods log JSON; a terminal reads text).
    chart_default: str | bool | None = None

    @property
    def name(self) -> str:
        return self.label or self.key

    @property
    def chart_value(self) -> str | bool:
        return self.default if self.chart_default is None else self.chart_default


def _size(key: str, param: str, env: str, default: str, help: str, **extra: Any) -> Setting:
    return Setting(key, param, env, "--" + param.replace("_", "-"), Kind.SIZE, default, help, "6GiB or 6144MiB", "SIZE", **extra)


def _duration(key: str, param: str, env: str, default: str, help: str, **extra: Any) -> Setting:
    extra.setdefault("example", "10s, 5m or 1m30s")
    return Setting(
        key, param, env, extra.pop("flag", "--" + param.replace("_", "-")), Kind.DURATION, default, help, metavar="DURATION", **extra
    )


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "enabled",
        "enabled",
        "GATE_ENABLED",
        "--enabled/--disabled",
        Kind.BOOL,
        True,
        "false pauses the gate: nothing takes the card, and what holds it gives it back (as `gate pause` does from the Lease).",
        "true",
    ),
    Setting(
        "source",
        "source",
        "GATE_SOURCE",
        "--source",
        Kind.CHOICE,
        SourceName.GPU_POD_EXPORTER.value,
        f"Metrics source: {', '.join(SourceName)}.",
        "gpu-pod-exporter",
        "SOURCE",
        choices=tuple(SourceName),
    ),
    Setting(
        "metricsUrl",
        "metrics_url",
        "GATE_METRICS_URL",
        "--metrics-url",
        Kind.URL,
        "http://gpu-pod-exporter.nvidia.svc:80/metrics",
        "The exporter's /metrics URL, or the Prometheus base URL for --source prometheus.",
        "http://gpu-pod-exporter.nvidia.svc:80/metrics",
        "URL",
        label="metrics URL",
    ),
    _size(
        "floor",
        "floor",
        "GATE_FLOOR",
        "6GiB",
        "Free GPU memory the TTS pod needs: its measured peak plus headroom (6GiB, 6144MiB).",
        positive=True,
    ),
    _size(
        "total",
        "total",
        "GATE_TOTAL",
        "15360MiB",
        "The card's total memory, as nvidia-smi reports it (a T4: 15360MiB); 'device' (\"\" in the file) reads it from a "
        "source that reports one (dcgm, nvidia-smi, --device-source).",
        empty="device",
    ),
    Setting(
        "window",
        "window",
        "GATE_WINDOW",
        "--window",
        Kind.WINDOW,
        "02:00-06:00",
        "Daily window HH:MM-HH:MM the card may be taken in, on the wall clock of --timezone; 'any' (\"\" in the file) for any time.",
        "02:00-06:00",
        "HH:MM-HH:MM",
        empty="any",
    ),
    Setting(
        "timeZone",
        "timezone_name",
        "GATE_TIMEZONE",
        "--timezone",
        Kind.TIMEZONE,
        "Europe/London",
        "IANA time zone of the window.",
        "Europe/London or UTC",
        "ZONE",
        label="time zone",
    ),
    _duration(
        "cooldown",
        "cooldown",
        "GATE_COOLDOWN",
        "10s",
        "After a yield, how long the card must show room before re-entry: after an isolated wake (it doubles while wakes repeat).",
    ),
    _duration(
        "cooldownMax",
        "cooldown_max",
        "GATE_COOLDOWN_MAX",
        "2m",
        "The cool-down doubles for each yield in a row that cut an entry short, up to this (at or below cooldown: fixed).",
        label="cooldown max",
    ),
    _size("hysteresis", "hysteresis", "GATE_HYSTERESIS", "512MiB", "After a yield, re-entry needs this much free memory above the floor."),
    _duration(
        "maxAge", "max_age", "GATE_MAX_AGE", "60s", "Metrics older than this are stale, which is blindness.", positive=True, label="max age"
    ),
    Setting(
        "emptyIsIdle",
        "empty_is_idle",
        "GATE_EMPTY_IS_IDLE",
        "--empty-is-idle",
        Kind.BOOL,
        False,
        "Read an exporter that lists no GPU process as an idle card. Off: that answer is blind, since the owner's "
        "exporter answers the same when its nvidia-smi fails (a device source can confirm idleness instead).",
        "false",
    ),
    Setting(
        "device.source",
        "device_source",
        "GATE_DEVICE_SOURCE",
        "--device-source",
        Kind.CHOICE,
        "",
        "A device-level exporter read beside the per-pod source: memory it sees held counts even when the per-pod one misses it.",
        "dcgm",
        "dcgm|nvidia-smi",
        choices=tuple(DeviceSourceName),
        empty="none",
        label="device source",
    ),
    Setting(
        "device.url",
        "device_url",
        "GATE_DEVICE_URL",
        "--device-url",
        Kind.URL,
        "",
        "--device-source: its /metrics URL.",
        "http://nvidia-dcgm-exporter.gpu-operator.svc:9400/metrics",
        "URL",
        empty="none",
        label="device URL",
    ),
    _duration(
        "startupGrace",
        "startup_grace",
        "GATE_STARTUP_GRACE",
        "3m",
        "After entry, how long unlabelled new memory (up to the floor) is presumed the server's own while the exporter catches up.",
    ),
    _size(
        "ownPeak",
        "own_peak",
        "GATE_OWN_PEAK",
        "4.5GiB",
        "The server's measured GPU peak; with dcgm or nvidia-smi alone, growth since entry up to this is presumed its own.",
    ),
    _duration(
        "timeout", "timeout", "GATE_TIMEOUT", "5s", "Time limit for each metrics scrape and each API call.", positive=True, group="cluster"
    ),
    Setting(
        "logFormat",
        "log_format",
        "GATE_LOG_FORMAT",
        "--log-format",
        Kind.CHOICE,
        Format.TEXT.value,
        "Log line format on stderr: text (logfmt) or json.",
        "json",
        "text|json",
        choices=tuple(Format),
        label="log format",
        group="log",
        chart_default=Format.JSON.value,
    ),
    _duration(
        "entryMargin", "entry_margin", "GATE_ENTRY_MARGIN", "5m", "No entry this close to the window's end (a start and a model load)."
    ),
    Setting(
        "demand.url",
        "demand_url",
        "GATE_DEMAND_URL",
        "--demand-url",
        Kind.URL,
        "",
        'A queue answering {"queued": N}: the card is taken only with work waiting and given back once it is empty [off when empty].',
        "http://tripit.tripit.svc.cluster.local:8080/api/tour/tts-queue",
        "URL",
        empty="none",
        label="demand URL",
    ),
    Setting(
        "demand.field",
        "demand_field",
        "GATE_DEMAND_FIELD",
        "--demand-field",
        Kind.TEXT,
        "queued",
        "--demand-url: the count's field.",
        "queued",
        "NAME",
        label="demand field",
    ),
    _duration(
        "demand.idleAfter",
        "demand_idle_after",
        "GATE_DEMAND_IDLE_AFTER",
        "5m",
        "--demand-url: how long an explicit 0 must hold before the card is given back.",
        positive=True,
        label="demand idle-after",
    ),
    Setting(
        "demand.window",
        "demand_window",
        "GATE_DEMAND_WINDOW",
        "--demand-window",
        Kind.WINDOW,
        "",
        "--demand-url: the hours work waiting may take the card [any time when empty].",
        "08:00-22:00",
        "HH:MM-HH:MM",
        empty="any",
        label="demand window",
    ),
    Setting(
        "prometheus.query",
        "prometheus_query",
        "GATE_PROMETHEUS_QUERY",
        "--prometheus-query",
        Kind.TEXT,
        "",
        "With source prometheus (and for measure and replay, --prometheus): the query giving bytes by namespace and pod "
        "[the gate's own when empty].",
        "sum by (namespace, pod) (gpu_pod_memory_used_bytes)",
        "PROMQL",
        empty="the gate's",
    ),
    Setting(
        "prometheus.upQuery",
        "prometheus_up_query",
        "GATE_PROMETHEUS_UP_QUERY",
        "--prometheus-up-query",
        Kind.TEXT,
        "",
        "With source prometheus (and --prometheus): a query that answers 1 while the exporter is scraped [the gate's own when empty].",
        'max(up{job="gpu-pod-memory"})',
        "PROMQL",
        empty="the gate's",
    ),
    Setting(
        "prometheus.sampledQuery",
        "prometheus_sampled_query",
        "GATE_PROMETHEUS_SAMPLED_QUERY",
        "--prometheus-sampled-query",
        Kind.TEXT,
        "",
        "With source prometheus: a query giving the Unix time of the exporter's last scrape [the gate's own when empty].",
        'max(timestamp(up{job="gpu-pod-memory"}))',
        "PROMQL",
        empty="the gate's",
    ),
    _duration(
        "controller.interval",
        "interval",
        "GATE_INTERVAL",
        "10s",
        "Time between ticks.",
        flag="--interval",
        positive=True,
        label="interval",
        group="run",
    ),
    _duration(
        "sidecar.interval",
        "interval",
        "GATE_INTERVAL",
        "10s",
        "--watch: time between checks.",
        flag="--interval",
        positive=True,
        label="interval",
        group="guard",
    ),
)

BY_KEY = {s.key: s for s in SETTINGS}
# The command line's shared settings options (the loops' intervals are each loop's own).
SHARED = tuple(s for s in SETTINGS if s.group in ("card", "cluster", "log"))


def defaults() -> dict[str, str | bool]:
    return {s.key: s.default for s in SETTINGS}


# -- the document --------------------------------------------------------------------------------


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"demand": {"url": x}} -> {"demand.url": x}; a mapping where a setting is stays a value."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and path not in BY_KEY:
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = document
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return document


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Document:
    """A settings document that passed `load`: its values by key, and where it came from."""

    values: Mapping[str, Any] = field(default_factory=dict)
    path: str | None = None
    hash: str | None = None


def load_text(text: str, where: str) -> Document:
    """Parse and validate a whole document; InvalidValue (one line, naming `where` and the key)
    on the first problem. Nothing of a refused document is used."""
    import yaml  # the document is YAML; only the command line and the loops read one

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidValue(
            f"{where}: not YAML{at}: {getattr(exc, 'problem', None) or exc}; expected the gate's settings, e.g. floor: 6GiB"
        ) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InvalidValue(f"{where}: expected a mapping of the gate's settings, e.g. floor: 6GiB; got {type(raw).__name__}")
    flat = flatten(raw)
    for key, value in flat.items():
        if key not in BY_KEY:
            near = difflib.get_close_matches(key, BY_KEY, n=1)
            hint = f"did you mean {near[0]}?" if near else f"expected one of {', '.join(BY_KEY)}"
            raise InvalidValue(f"{where}: {key}: unknown setting ({value!r}); {hint}")
        setting = BY_KEY[key]
        if setting.kind == Kind.BOOL:
            if not isinstance(value, bool):
                raise InvalidValue(f"{where}: {key}: {value!r} is not true or false; write {key}: {setting.example}")
        elif not isinstance(value, str):
            what = "a number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__
            example = json.dumps(setting.example.split(" or ")[0].split(", ")[0])
            raise InvalidValue(f"{where}: {key}: {value!r} is {what}, not {EXPECTED[setting.kind]}; write {key}: {example}")
    parse({**defaults(), **flat}, dict.fromkeys(flat, Origin.FILE), where, needs_total=True)
    return Document(flat, where, content_hash(text))


def load(path: str) -> Document:
    """Read and validate the document at `path` (read through the path each time: a mounted
    ConfigMap changes by swapping a `..data` link; "-" is stdin)."""
    import sys

    if path == "-":
        return load_text(_from_stream(sys.stdin.read()), "-")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise InvalidValue(
            f"cannot read the settings file {path!r}: {exc.strerror}; expected a YAML file, e.g. the chart's gate.yaml"
        ) from exc
    return load_text(text, path)


def _from_stream(text: str) -> str:
    """A settings document, or a stream of Kubernetes objects (`helm template ... |`): then the
    one ConfigMap's `gate.yaml`."""
    import yaml

    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        return text  # load_text says what is wrong with it
    if len(documents) == 1 and "kind" not in documents[0]:
        return text
    found = [
        d["data"]["gate.yaml"]
        for d in documents
        if isinstance(d, dict) and d.get("kind") == "ConfigMap" and "gate.yaml" in (d.get("data") or {})
    ]
    if len(found) != 1:
        raise InvalidValue(f"-: expected a settings document or objects with one ConfigMap holding gate.yaml, found {len(found)}")
    return found[0]


# -- precedence ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """Every setting's effective value and where it came from."""

    values: Mapping[str, Any]
    origins: Mapping[str, Origin]
    path: str | None = None


def resolve(given: Mapping[str, tuple[Any, Origin]], document: Document | None) -> Resolved:
    """flag > variable > file > default: `given` holds what the command line had from a flag or
    a variable (key -> value, origin); the document the rest it says; the table the remainder."""
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    file_values = document.values if document is not None else {}
    for setting in SETTINGS:
        key = setting.key
        if key in given:
            values[key], origins[key] = given[key]
        elif key in file_values:
            values[key], origins[key] = file_values[key], Origin.FILE
        else:
            values[key], origins[key] = setting.default, Origin.DEFAULT
    return Resolved(values, origins, document.path if document is not None else None)


# -- meaning ---------------------------------------------------------------------------------------


def _none(setting: Setting, value: Any) -> bool:
    """Whether `value` is this setting's "none": "" in the file, its word on the command line
    ("device", "any", ...), or None."""
    return setting.empty is not None and (value is None or value == "" or value == setting.empty)


@dataclass(frozen=True)
class Parsed:
    """The settings, parsed: typed values by key (None for a setting left at its "none")."""

    values: Mapping[str, Any]


def parse(
    values: Mapping[str, Any], origins: Mapping[str, Origin], path: str | None, needs_total: bool = True, fetches: bool = True
) -> Parsed:
    """Give every value its meaning, or InvalidValue in one line. A value from the file is
    named by its key and the file; one from a flag or variable as the gate always named it.
    `fetches` False (the replay) leaves out what only reading the sources needs (their URLs)."""

    def where(*keys: str) -> str:
        """Named by the file and the first key (the value to change) when any came from it."""
        from_file = any(origins.get(k) == Origin.FILE for k in keys)
        return f"{path}: {keys[0]}: " if from_file and path else ""

    def one(key: str, fn: Any) -> Any:
        try:
            return fn()
        except InvalidValue as exc:
            raise InvalidValue(f"{where(key)}{exc}") from exc

    def check(condition: bool, message: str, *keys: str) -> None:
        if not condition:
            raise InvalidValue(f"{where(*keys)}{message}")

    out: dict[str, Any] = {}
    tz = one("timeZone", lambda: parse_timezone(values["timeZone"]))
    out["timeZone"] = tz
    for setting in SETTINGS:
        key, value = setting.key, values[setting.key]
        if setting.kind == Kind.TIMEZONE:
            continue
        if _none(setting, value):
            out[key] = None
            continue
        out[key] = one(key, lambda s=setting, v=value: _parse_one(s, v, tz))
    # What one value cannot say alone.
    source, device = out["source"], out["device.source"]
    check(
        not (device and source in DEVICE_SOURCE_NAMES),
        f"{device_beside_per_pod('--device-source', repr(device), '--source', repr(source))} (device.source beside source in the file)",
        "device.source",
        "source",
    )
    check(
        not fetches or not device or out["device.url"] is not None,
        f"--device-source {device!r} needs --device-url (GATE_DEVICE_URL): the exporter's /metrics URL (device.url in the file), "
        "e.g. http://nvidia-dcgm-exporter.gpu-operator.svc:9400/metrics",
        "device.url",
        "device.source",
    )
    check(
        not needs_total or out["total"] is not None or device is not None or provides_total(source),
        f"source {source!r} reports no device total: set GATE_TOTAL (total in the file; a T4 reports 15360MiB), or add a device source",
        "total",
        "source",
    )
    check(
        source != SourceName.PROMETHEUS or not str(values["metricsUrl"]).rstrip("/").endswith("/metrics"),
        f"invalid metrics URL {values['metricsUrl']!r} for source prometheus: expected the Prometheus base URL, not an "
        "exporter's /metrics, e.g. http://prometheus-server.monitoring.svc:80",
        "metricsUrl",
        "source",
    )
    out["floor"] = one("floor", lambda: parse_floor(values["floor"], out["total"]))
    return Parsed(out)


def device_beside_per_pod(device_name: str, device: str, source_name: str, source: str) -> str:
    """The one wording of "a device source only beside a per-pod source", with the names and
    values as the caller shows them: the gate's refusal here, and templates/_settings.tpl's
    (which Helm renders itself; tests/test_defaults.py holds the two equal)."""
    return f"{device_name} {device} is a second opinion beside a per-pod source; {source_name} {source} is device-level already"


def _parse_one(setting: Setting, value: Any, tz: Any) -> Any:
    name = setting.name
    if setting.kind == Kind.BOOL:
        if not isinstance(value, bool):
            raise InvalidValue(f"invalid {name} {value!r}: expected true or false")
        return value
    text = str(value)
    if setting.kind == Kind.SIZE:
        return parse_size(text)
    if setting.kind == Kind.DURATION:
        seconds = parse_duration(text)
        if setting.positive and seconds <= 0:
            raise InvalidValue(f"invalid {name} {text!r}: expected a positive duration, e.g. {setting.example}")
        return seconds
    if setting.kind == Kind.WINDOW:
        return parse_window(text, tz)
    if setting.kind == Kind.URL:
        if not text.startswith(("http://", "https://")) or len(text) <= len("https://"):
            raise InvalidValue(f"invalid {name} {text!r}: expected http:// or https://, e.g. {setting.example}")
        return text
    if setting.kind == Kind.CHOICE:
        if text not in setting.choices:
            raise InvalidValue(f"invalid {name} {text!r}: expected one of {', '.join(setting.choices)}")
        return text
    if not text:
        raise InvalidValue(f"invalid {name} '': expected {setting.help.rstrip('.')}, e.g. {setting.example}")
    return text


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
        stable_seconds=parsed["cooldown"],
        cooldown_max_seconds=parsed["cooldownMax"],
        hysteresis_bytes=parsed["hysteresis"],
        max_age_seconds=parsed["maxAge"],
        empty_is_idle=parsed["emptyIsIdle"],
        startup_grace_seconds=parsed["startupGrace"],
        own_peak_bytes=parsed["ownPeak"],
        entry_margin_seconds=parsed["entryMargin"],
        demand=demand,
        enabled=parsed["enabled"],
    )


# -- what the chart's templates validate with ------------------------------------------------------


def chart_table() -> dict[str, Any]:
    """chart/files/gate-settings.json: each setting's key, kind, pattern and example, so a
    template refuses a value in one line with the gate's own rule (tests keep it current)."""
    patterns = {
        Kind.SIZE: formats.SIZE,
        Kind.DURATION: formats.DURATION,
        Kind.WINDOW: formats.WINDOW,
        Kind.URL: r"^https?://.+",
        # The shape of an IANA name; whether it exists, the gate asks its zone database.
        Kind.TIMEZONE: r"^(UTC|[A-Z][A-Za-z_-]+(/[A-Za-z0-9_+-]+){1,2})$",
    }
    rows = []
    for s in SETTINGS:
        row: dict[str, Any] = {"key": s.key, "kind": s.kind.value, "expected": EXPECTED[s.kind], "example": s.example}
        if s.kind in patterns:
            row["pattern"] = patterns[s.kind]
        if s.choices:
            row["choices"] = list(s.choices)
            row["expected"] = "one of " + ", ".join(s.choices)
        if s.empty is not None:
            row["empty"] = True
        if s.positive:
            row["positive"] = True
        rows.append(row)
    return {"generatedBy": "make settings (python -m gate.settings chart)", "settings": rows}


SCHEMA_COMMENT = "checked in one line at render by templates/_settings.tpl, with gate/settings.py's rule"


def schema_with_settings(schema: dict[str, Any]) -> dict[str, Any]:
    """chart/values.schema.json with each setting described under gate, its refusal left to
    templates/_settings.tpl (Helm prints a schema failure as many lines, before any template)."""
    gate = schema["properties"]["gate"]
    for setting in SETTINGS:
        *parents, leaf = setting.key.split(".")
        node = gate
        for part in parents:
            node = node["properties"].setdefault(part, {"type": "object", "properties": {}})
        node["properties"][leaf] = {"$comment": SCHEMA_COMMENT, "description": setting.help}
    return schema


def write_chart_files(chart: str) -> None:
    """`make settings`: what the chart carries of the table (tests/test_defaults.py checks both)."""
    with open(f"{chart}/files/gate-settings.json", "w", encoding="utf-8") as handle:
        handle.write(json.dumps(chart_table(), indent=2) + "\n")
    with open(f"{chart}/values.schema.json", encoding="utf-8") as handle:
        schema = json.load(handle)
    with open(f"{chart}/values.schema.json", "w", encoding="utf-8") as handle:
        handle.write(json.dumps(schema_with_settings(schema), indent=2) + "\n")


if __name__ == "__main__":  # pragma: no cover
    import sys

    write_chart_files(sys.argv[1] if len(sys.argv) > 1 else "chart")
