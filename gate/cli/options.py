"""The command line's options: each alias written once, here.

The settings' options are made from gate/settings.py's table (their flag, variable, help and
default: `setting_option`); the others (who and where: namespace, kubeconfig, ...; how:
--dry-run, --output; and each command's own) are written here. A choice's metavar is its enum's
values; the value is parsed in the command's body (`command.choice`), so a bad one is the gate's
one-line refusal, not Click's usage error.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from gate import defaults
from gate import settings as gate_settings
from gate.recorded import PrometheusRange
from gate.scenario import PolicyChoice


def metavar(choices: type[StrEnum]) -> str:
    return "|".join(choices)


def setting_option(setting: gate_settings.Setting) -> Any:
    """The command line's option for one row of the settings table."""
    if setting.kind == gate_settings.Kind.BOOL:
        return Annotated[bool, typer.Option(setting.flag, envvar=setting.env, help=setting.help, show_default=True)]
    shown = str(setting.default) if setting.default != "" else False
    return Annotated[
        str | None,
        typer.Option(setting.flag, envvar=setting.env, metavar=setting.metavar, help=setting.help, show_default=shown),
    ]


def setting_default(setting: gate_settings.Setting) -> Any:
    return setting.default if setting.default != "" else None


# -- the options every command may share -----------------------------------------------------------


def _namespace_option(kind: Any, help: str) -> Any:
    """--namespace (GATE_NAMESPACE): the live commands' (none: found) and the recorded nights' (the release's)."""
    return Annotated[kind, typer.Option("--namespace", envvar="GATE_NAMESPACE", metavar="NAME", help=help)]


Namespace = _namespace_option(str | None, "Namespace of the TTS Deployment [default: the pod's own, or the kubeconfig context's].")
Deployment = Annotated[str, typer.Option(envvar="GATE_DEPLOYMENT", metavar="NAME", help="The TTS Deployment the gate scales.")]
Config = Annotated[
    str | None,
    typer.Option(
        "--config",
        envvar="GATE_CONFIG",
        metavar="FILE",
        help="The settings document (the chart's gate.yaml); flags and GATE_* variables override it. The loops re-read it when it changes.",
    ),
]
Kubeconfig = Annotated[
    str | None,
    typer.Option(envvar="KUBECONFIG", metavar="FILE", help="kubeconfig file [default: in-cluster service account, else ~/.kube/config]."),
]
Context = Annotated[str | None, typer.Option(envvar="GATE_CONTEXT", metavar="NAME", help="kubeconfig context [default: current-context].")]
DryRun = Annotated[bool, typer.Option("--dry-run", envvar="GATE_DRY_RUN", help="Decide and report; change nothing.")]
Output = Annotated[
    str,
    typer.Option("--output", "-o", envvar="GATE_OUTPUT", metavar=metavar(gate_settings.Format), help="Report format: text or json."),
]
Now = Annotated[str | None, typer.Option(envvar="GATE_NOW", metavar="TIME", hidden=True, help="Evaluate as if at this RFC 3339 instant.")]
Debug = Annotated[bool, typer.Option("--debug", envvar="GATE_DEBUG", help="Print a traceback on internal errors.")]


@dataclass(frozen=True)
class Group:
    """Options declared once, as the parameters of `build`, for every command that takes them:
    a command's parameter whose default is the group stands for them (`--help` lists them in its
    place) and receives what `build` makes of their values (`command.with_groups`)."""

    build: Callable[..., Any]


def _parameter(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


# The shared options as parameters, in the order `--help` lists them.
COMMON: dict[str, inspect.Parameter] = {
    p.name: p
    for p in [
        _parameter("namespace", Namespace, None),
        _parameter("deployment", Deployment, defaults.DEPLOYMENT),
        _parameter("config", Config, None),
        *(_parameter(s.param, setting_option(s), setting_default(s)) for s in gate_settings.SHARED),
        _parameter("kubeconfig", Kubeconfig, None),
        _parameter("context", Context, None),
        _parameter("dry_run", DryRun, False),
        _parameter("output", Output, gate_settings.Format.TEXT.value),
        _parameter("now", Now, None),
        _parameter("debug", Debug, False),
    ]
}
SETTING_PARAMS = {s.param: s for s in gate_settings.SHARED}

# Which shared options each kind of command declares: it shows and reads only those.
CLUSTER = {"namespace", "deployment", "config", "kubeconfig", "context", "timeout", "now", "debug"}
CARD = {s.param for s in gate_settings.SHARED if s.group == "card"}  # the metrics, the policy, demand, the switch
ACTS = {"dry_run"}

# -- the live commands' own ------------------------------------------------------------------------

Deadline = Annotated[
    str,
    typer.Option(
        envvar="GATE_DEADLINE",
        metavar="DURATION",
        help=(
            "Give up a run that has not decided by then, exit 3; guard and down first give the card back "
            "(the chart sets half the CronJob's activeDeadlineSeconds; 0: no limit)."
        ),
    ),
]


def _interval_option(key: str) -> Any:
    setting = gate_settings.BY_KEY[key]
    return Annotated[
        str,
        typer.Option(setting.flag, envvar=setting.env, metavar=setting.metavar, help=f"{setting.help} ({key} in --config)"),
    ]


SidecarInterval = _interval_option("sidecar.interval")
ControllerInterval = _interval_option("controller.interval")
WatchOpt = Annotated[bool, typer.Option("--watch", envvar="GATE_WATCH", help="Keep guarding until SIGTERM (the sidecar).")]


def _loop_option(kind: Any, envvar: str, metavar: str, help: str) -> Any:
    """An option of the loops' alone (run, and guard --watch), its help saying so."""
    return Annotated[kind, typer.Option(envvar=envvar, metavar=metavar, help=f"run, guard --watch: {help}")]


ControlUrl = _loop_option(
    str | None,
    "GATE_CONTROL_URL",
    "URL",
    "the server's control port, for park.enabled (the chart sets it: the Service <server>-control for the controller, "
    "127.0.0.1 for the sidecar) [none: this loop never parks].",
)
ControlTokenFile = _loop_option(str, "GATE_CONTROL_TOKEN_FILE", "FILE", "the control port's token (read each call).")
MetricsPort = _loop_option(int, "GATE_METRICS_PORT", "PORT", "port serving /metrics and /healthz (0: none).")
Iterations = _loop_option(int, "GATE_ITERATIONS", "N", "stop after this many checks (0: until SIGTERM).")
MetricsAddress = _loop_option(str, "GATE_METRICS_ADDRESS", "ADDRESS", "address the metrics port binds.")

# -- try ------------------------------------------------------------------------------------------

TryFor = Annotated[
    str | None,
    typer.Option(
        "--for",
        metavar="DURATION",
        help="How long from now the window counts as open: more than the entry margin, at most 1h [default: 15m].",
        show_default=False,
    ),
]
TryEnd = Annotated[bool, typer.Option("--end", help="Remove the try: the window is the window again.")]

# -- check-config and check ------------------------------------------------------------------------

ConfigFile = Annotated[
    str, typer.Argument(metavar="FILE|-", help="The settings document; - reads it (or `helm template` output) from stdin.")
]
Seal = Annotated[
    bool,
    typer.Option(
        "--seal",
        help="Seal a hand-written document that passes: add its `apiVersion: tts.gate/v1` header when missing and write its "
        "`# sha256:` seal last, in place (- : on stdout). The gate reads no document without both.",
    ),
]
ServerUrl = Annotated[
    str | None,
    typer.Option(
        envvar="GATE_SERVER_URL",
        metavar="URL",
        help="The TTS server's URL; unset skips the synthesis check.",
    ),
]
Voice = Annotated[
    str,
    typer.Option(
        envvar="GATE_CHECK_VOICE",
        metavar="FILE",
        help="A voice as clients name it: one of the image's voices (Emily.wav), or a file in reference_audio/ on /data.",
    ),
]
Phrase = Annotated[str, typer.Option(envvar="GATE_CHECK_PHRASE", metavar="TEXT", help="The phrase to synthesize.")]
SynthTimeout = Annotated[str, typer.Option(envvar="GATE_SYNTH_TIMEOUT", metavar="DURATION", help="Time limit for the synthesis.")]
AllowCpu = Annotated[
    bool,
    typer.Option(
        "--allow-cpu", envvar="GATE_CHECK_ALLOW_CPU", help="Accept a model loaded on the CPU (the chart's server.allowCpu: no GPU)."
    ),
]
Synthesize = Annotated[
    bool,
    typer.Option(
        "--synthesize",
        envvar="GATE_CHECK_SYNTHESIZE",
        help="Fail unless a phrase is synthesized (the chart's testFramework.synthesize); without it a server at 0 replicas is skipped.",
    ),
]

# -- replay and measure: the policy on recorded nights ---------------------------------------------

Traces = Annotated[list[Path] | None, typer.Argument(help="CSV traces: timestamp,namespace,pod,used_bytes.", show_default=False)]
PrometheusUrl = Annotated[
    str | None,
    typer.Option("--prometheus", envvar="GATE_PROMETHEUS_URL", metavar="URL", help="Read the range from this Prometheus instead."),
]
Start = Annotated[str | None, typer.Option(metavar="TIME", help="--prometheus: RFC 3339 start of the range.")]
End = Annotated[str | None, typer.Option(metavar="TIME", help="--prometheus: RFC 3339 end of the range.")]
Step = Annotated[str, typer.Option(metavar="DURATION", help="--prometheus: resolution of the range (the exporter's refresh).")]
PromQuery = setting_option(gate_settings.BY_KEY["prometheus.query"])
PromUpQuery = setting_option(gate_settings.BY_KEY["prometheus.upQuery"])


def prometheus_range(
    prometheus: PrometheusUrl = None,
    start: Start = None,
    end: End = None,
    step: Step = "15s",
    prometheus_query: PromQuery = None,
    prometheus_up_query: PromUpQuery = None,
) -> PrometheusRange:
    """--prometheus and its range: where replay and measure read their night instead of trace files."""
    return PrometheusRange(prometheus, start, end, step, prometheus_query, prometheus_up_query)


PROMETHEUS_RANGE = Group(prometheus_range)
# measure prints the observed peak beside the floor the gate runs with (the server's budget).
MeasureFloor = setting_option(gate_settings.BY_KEY["floor"])
# measure and replay read one card of a night (a cards trace, or Prometheus by the exporter's labels).
CardNode = setting_option(gate_settings.BY_KEY["card.node"])
CardDevice = setting_option(gate_settings.BY_KEY["card.device"])
PromNodeLabel = setting_option(gate_settings.BY_KEY["prometheus.nodeLabel"])
MeasureSource = Annotated[
    str,
    typer.Option(
        "--source",
        envvar="GATE_SOURCE",
        metavar="SOURCE",
        help="Whose metrics the night is: a per-pod source's (the server's pods) or a device-level one's (the card's rise).",
    ),
]
PromReplicasQuery = Annotated[
    str | None,
    typer.Option(
        "--prometheus-replicas-query",
        metavar="PROMQL",
        help="With a device-level --source: the server's replicas as its gate recorded them "
        "[max(gate_replicas{namespace=...,deployment=...})].",
    ),
]
ReplayNamespace = _namespace_option(str, "The TTS release's namespace.")
PolicyName = Annotated[
    str,
    typer.Option(
        "--policy",
        metavar=metavar(PolicyChoice),
        help="gate (this project), seed (the seed stack) or reactive.",
    ),
]
Compare = Annotated[bool, typer.Option("--compare", help="Replay the seed policy and this one side by side.")]
ActionsOut = Annotated[Path | None, typer.Option(metavar="FILE", help="Write every change of desired replicas as JSON lines.")]
PlotFile = Annotated[Path | None, typer.Option(metavar="FILE", help="Draw the night(s) to a .png or .svg file (needs matplotlib).")]
TtsPeak = Annotated[str, typer.Option(metavar="SIZE", help="The TTS pod's GPU memory while it runs.")]
TtsStart = Annotated[str, typer.Option(metavar="DURATION", help="From desired 1 to holding memory (scheduling, image, start).")]
TtsLoad = Annotated[str, typer.Option(metavar="DURATION", help="From holding memory to baking (the model load).")]
TtsRelease = Annotated[str, typer.Option(metavar="DURATION", help="From desired 0 to the memory freed.")]
TtsResidue = Annotated[str, typer.Option(metavar="SIZE", help="--park: what the parked server keeps on the card.")]
TtsPark = Annotated[str, typer.Option(metavar="DURATION", help="--park: from a park asked to the model off the card.")]
TtsUnpark = Annotated[str, typer.Option(metavar="DURATION", help="--park: from an unpark asked to serving again.")]
RealtimeFactor = Annotated[
    str,
    typer.Option(
        "--rtf",
        metavar="FACTOR",
        help="The server's real-time factor (synthesis seconds per second of audio) for the narration each night made.",
    ),
]
ReplaySidecarInterval = Annotated[
    str | None,
    typer.Option("--sidecar-interval", metavar="DURATION", help="The sidecar's interval; 0 for no sidecar [default: sidecar.interval]."),
]
ReplayControllerInterval = Annotated[
    str | None,
    typer.Option(
        "--controller-interval", metavar="DURATION", help="The controller's interval (gate run); 0 for none [default: controller.interval]."
    ),
]
ExporterLag = Annotated[
    str,
    typer.Option(metavar="DURATION", help="How long the new TTS pod's memory reads `unknown` after its container starts."),
]
EmptyAnswer = Annotated[
    list[str] | None,
    typer.Option(
        metavar="HH:MM-HH:MM",
        help="Each night, the exporter answers HELP/TYPE only in this span (a failing nvidia-smi); repeatable.",
        show_default=False,
    ),
]
PausedSpans = Annotated[
    list[str] | None,
    typer.Option(
        "--paused",
        metavar="HH:MM-HH:MM",
        help="Each night, the gate is paused from its Lease (gate pause) in this span; repeatable.",
        show_default=False,
    ),
]


def _schedule_option(key: str) -> Any:
    return typer.Option(metavar="CRON", help=f"gate.cronJobs.{key}.schedule ('' for off) [default: the chart's, from the window].")


WindowUpSchedule = Annotated[str | None, _schedule_option("windowUp")]
ReentrySchedule = Annotated[
    str, typer.Option(metavar="CRON", help="A re-entry CronJob running preflight, as the first release had ('' for none).")
]
DemandFile = Annotated[
    Path | None, typer.Option("--demand", metavar="FILE", help="The queue over the night (timestamp,queued): replay with demand.")
]
GuardSchedule = Annotated[str | None, _schedule_option("guard")]
WindowDownSchedule = Annotated[str | None, _schedule_option("windowDown")]
Headroom = Annotated[str, typer.Option(metavar="SIZE", help="Added to the peak: the race between reading free memory and allocating it.")]
Release = Annotated[str, typer.Option(metavar="NAME", help="The Helm release, for the printed command.")]
