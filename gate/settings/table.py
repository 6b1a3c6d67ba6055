"""The table: every setting of the gate, once (see the package's docstring for what follows from it)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gate import formats
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


def _size(key: str, param: str, env: str, default: str, help: str, **extra: Any) -> Setting:
    extra.setdefault("example", default)
    extra.setdefault("bound", "1TiB")  # more than any card has
    return Setting(key, param, env, "--" + param.replace("_", "-"), Kind.SIZE, default, help, metavar="SIZE", **extra)


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
        old_names=tuple(ALIASES),
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
        "source that reports one (dcgm, nvidia_gpu_exporter, --device-source).",
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
        bound="24h",
    ),
    _duration(
        "cooldownMax",
        "cooldown_max",
        "GATE_COOLDOWN_MAX",
        "2m",
        "The cool-down doubles for each yield in a row that cut an entry short, up to this (at or below cooldown: fixed).",
        label="cooldown max",
        bound="24h",
    ),
    _size("hysteresis", "hysteresis", "GATE_HYSTERESIS", "512MiB", "After a yield, re-entry needs this much free memory above the floor."),
    _duration(
        "maxAge",
        "max_age",
        "GATE_MAX_AGE",
        "60s",
        "Metrics older than this are stale, which is blindness.",
        positive=True,
        label="max age",
        bound="1h",
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
        "|".join(DeviceSourceName),
        choices=tuple(DeviceSourceName),
        old_names=DEVICE_ALIASES,
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
    Setting(
        "card.node",
        "card_node",
        "GATE_CARD_NODE",
        "--card-node",
        Kind.TEXT,
        "",
        "The node the server is pinned to: sources read only its card (by the exporter's node label, or its pod on that "
        "node through the Service's EndpointSlices) [a single GPU node when empty].",
        "gpu-node-1",
        "NODE",
        empty="any",
        label="card node",
        pattern=formats.NODE,
        form="a Kubernetes node name",
        longest=253,  # a DNS subdomain's
    ),
    Setting(
        "card.device",
        "card_device",
        "GATE_CARD_DEVICE",
        "--card-device",
        Kind.TEXT,
        "",
        "On a node with several GPUs, the server's: its UUID (GPU-...) or index (0), as the exporters label it "
        "[the node's only GPU when empty].",
        "GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a",
        "DEVICE",
        empty="any",
        label="card device",
        pattern=formats.DEVICE,
        form="the GPU's UUID (GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a) or its index (0)",
    ),
    _duration(
        "startupGrace",
        "startup_grace",
        "GATE_STARTUP_GRACE",
        "3m",
        "After entry, how long unlabelled new memory (up to the floor) is presumed the server's own while the exporter catches up.",
        bound="1h",
    ),
    _size(
        "ownPeak",
        "own_peak",
        "GATE_OWN_PEAK",
        "4.5GiB",
        "The server's measured GPU peak (gate measure); with dcgm or nvidia_gpu_exporter alone, growth since entry up to "
        "this is presumed its own.",
    ),
    _duration(
        "timeout",
        "timeout",
        "GATE_TIMEOUT",
        "5s",
        "Time limit for each metrics scrape and each API call.",
        positive=True,
        group="cluster",
        bound="1m",
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
        "entryMargin",
        "entry_margin",
        "GATE_ENTRY_MARGIN",
        "5m",
        "No entry this close to the window's end (a start and a model load).",
        bound="24h",
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
        bound="24h",
        whole=True,  # the alerts use it in PromQL, which takes no fractions
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
    Setting(
        "prometheus.nodeLabel",
        "prometheus_node_label",
        "GATE_PROMETHEUS_NODE_LABEL",
        "--prometheus-node-label",
        Kind.TEXT,
        "node",
        "With source prometheus: the label the scrape puts the exporter pod's node in (the prometheus chart's endpoints job: node).",
        "node",
        "LABEL",
        label="prometheus node label",
        pattern=formats.LABEL,
        form="a label name",
    ),
    Setting(
        "park.enabled",
        "park",
        "GATE_PARK",
        "--park/--no-park",
        Kind.BOOL,
        False,
        "Warm standby: on a wake the controller or the sidecar parks the server (its model to host memory, a residue on the "
        "card) when the card holds the residue with the floor's headroom above ownPeak, instead of scaling it to 0; the "
        "controller unparks it once there is room again. Off: every give-back scales to 0.",
        "true",
        label="park",
    ),
    _size(
        "park.residue",
        "park_residue",
        "GATE_PARK_RESIDUE",
        "1536MiB",
        "--park: the most a parked server may keep on the card (its CUDA context and leftovers): counted until the exporter "
        "has measured it; measured past it, the server is scaled to 0.",
        label="park residue",
        bound="64GiB",
    ),
    _duration(
        "park.maxParked",
        "park_max_parked",
        "GATE_PARK_MAX_PARKED",
        "1h",
        "--park: a park that lasts this long is scaled to 0 (the residue and the model's host copy are kept only while a "
        "return is likely).",
        positive=True,
        label="park max-parked",
        bound="24h",
    ),
    _duration(
        "park.timeout",
        "park_timeout",
        "GATE_PARK_TIMEOUT",
        "15s",
        "--park: a park or an unpark the server has not confirmed within this fails, and the server is scaled to 0.",
        positive=True,
        label="park timeout",
        bound="1m",
    ),
    _duration(
        "park.cooldown",
        "park_cooldown",
        "GATE_PARK_COOLDOWN",
        "10s",
        "--park: how long the card must show room (floor and hysteresis) before a parked server is unparked.",
        label="park cooldown",
        bound="24h",
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
        bound="1h",
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
        bound="1h",
    ),
)


BY_KEY = {s.key: s for s in SETTINGS}
# The command line's shared settings options (the loops' intervals are each loop's own).
SHARED = tuple(s for s in SETTINGS if s.group in ("card", "cluster", "log"))
# Every size and duration has a bound; "" is never a positive value's none.
assert all(s.bound for s in SETTINGS if s.kind in (Kind.SIZE, Kind.DURATION))
assert not any(s.positive and s.empty is not None for s in SETTINGS)
# A form of its own is free text's only.
assert all(s.kind == Kind.TEXT for s in SETTINGS if s.pattern or s.form or s.longest)


def defaults() -> dict[str, str | bool]:
    return {s.key: s.default for s in SETTINGS}
