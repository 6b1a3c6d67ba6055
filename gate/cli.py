"""The `gate` command line: a thin layer over `gate.run`, `gate.policy` and `gate.report`.

Every option is also a GATE_* environment variable (the CronJobs set only those). Values are
parsed here into plain settings; a value that cannot mean anything stops the command before any
I/O with one line on stderr and exit status 2.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from gate import __version__, defaults, policy, report
from gate.cron import parse_cron
from gate.kube.errors import KubeError
from gate.options import Options, choice, parse_options, with_cluster
from gate.run import Outcome, look, read_state, run
from gate.sources import DEVICE_SOURCE_NAMES, SOURCE_NAMES, SourceConfig, SourceError
from gate.sources.prometheus import read_range
from gate.status import EXIT_STATUS_HELP, ExitStatus, for_kube_error
from gate.trace import Trace, from_scrapes, load_csv
from gate.units import InvalidValue, parse_duration, parse_floor, parse_instant, parse_size, parse_timezone, parse_window

app = typer.Typer(
    name="gate",
    help=(
        "Lets the TTS Deployment hold a shared GPU only when the resident tenants leave it room.\n\n"
        + EXIT_STATUS_HELP.replace("\n", "\n\n")
    ),
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"gate {__version__}")
        raise typer.Exit()


@app.callback()
def _gate(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True, help="Print the gate's version and exit.")
    ] = False,
) -> None:
    """Lets the TTS Deployment hold a shared GPU only when the resident tenants leave it room."""


# A bearer token, or a JWT (a service account token) wherever it appears in text.
_SECRETS = re.compile(r"(?i)(bearer\s+)[^\s'\",;]+|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    """Tokens out of anything the gate prints about a failure: a library's error message or a
    traceback may carry a request's Authorization header."""
    return _SECRETS.sub(lambda m: (m.group(1) or "") + "<redacted>", text)


def fail(message: str, status: ExitStatus) -> NoReturn:
    """One line on stderr, then the exit status: the only way the gate reports a failure."""
    typer.echo(f"gate: {redact(' '.join(message.split()))}", err=True)
    raise typer.Exit(code=int(status))


# -- the options every command shares ----------------------------------------------------------

Namespace = Annotated[
    str | None,
    typer.Option(
        envvar="GATE_NAMESPACE",
        metavar="NAME",
        help="Namespace of the TTS Deployment [default: the pod's own, or the kubeconfig context's].",
    ),
]
Deployment = Annotated[str, typer.Option(envvar="GATE_DEPLOYMENT", metavar="NAME", help="The TTS Deployment the gate scales.")]
MetricsUrl = Annotated[
    str,
    typer.Option(
        envvar="GATE_METRICS_URL", metavar="URL", help="The exporter's /metrics URL, or the Prometheus base URL for --source prometheus."
    ),
]
SourceName = Annotated[
    str,
    typer.Option(
        "--source",
        envvar="GATE_SOURCE",
        metavar="SOURCE",
        help=f"Metrics source: {', '.join(SOURCE_NAMES)}.",
    ),
]
Floor = Annotated[
    str,
    typer.Option(
        envvar="GATE_FLOOR",
        metavar="SIZE",
        help="Free GPU memory the TTS pod needs: its measured peak plus headroom (6GiB, 6144MiB, 6.5GB, bytes).",
    ),
]
Total = Annotated[
    str | None,
    typer.Option(
        envvar="GATE_TOTAL",
        metavar="SIZE",
        help=(
            "The card's total memory, as nvidia-smi reports it (a T4: 15360MiB); 'device' reads it from a source "
            "that reports one (dcgm, nvidia-smi, --device-source)."
        ),
    ),
]
WindowOpt = Annotated[
    str | None,
    typer.Option(
        "--window",
        envvar="GATE_WINDOW",
        metavar="HH:MM-HH:MM",
        help="Daily window HH:MM-HH:MM the card may be taken in, on the wall clock of --timezone; 'any' for any time.",
    ),
]
Timezone = Annotated[str, typer.Option("--timezone", envvar="GATE_TIMEZONE", metavar="ZONE", help="IANA time zone of the window.")]
Cooldown = Annotated[
    str,
    typer.Option(
        envvar="GATE_COOLDOWN",
        metavar="DURATION",
        help="After an isolated yield, how long the card must show room before re-entry (the first cool-down).",
    ),
]
CooldownMax = Annotated[
    str,
    typer.Option(
        envvar="GATE_COOLDOWN_MAX",
        metavar="DURATION",
        help="The cool-down doubles for each yield in a row that cut an entry short, up to this (below --cooldown: fixed).",
    ),
]
Hysteresis = Annotated[
    str, typer.Option(envvar="GATE_HYSTERESIS", metavar="SIZE", help="After a yield, re-entry needs this much free memory above the floor.")
]
MaxAge = Annotated[
    str,
    typer.Option(
        envvar="GATE_MAX_AGE",
        metavar="DURATION",
        help="Metrics older than this are stale, which is blindness.",
    ),
]
Timeout = Annotated[
    str,
    typer.Option(
        envvar="GATE_TIMEOUT",
        metavar="DURATION",
        help="Time limit for each metrics scrape and each API call.",
    ),
]
Kubeconfig = Annotated[
    str | None,
    typer.Option(envvar="KUBECONFIG", metavar="FILE", help="kubeconfig file [default: in-cluster service account, else ~/.kube/config]."),
]
Context = Annotated[str | None, typer.Option(envvar="GATE_CONTEXT", metavar="NAME", help="kubeconfig context [default: current-context].")]
PromQuery = Annotated[
    str | None,
    typer.Option(
        envvar="GATE_PROMETHEUS_QUERY", metavar="PROMQL", help="--source prometheus: the query giving bytes by namespace and pod."
    ),
]
PromUpQuery = Annotated[
    str | None,
    typer.Option(
        envvar="GATE_PROMETHEUS_UP_QUERY",
        metavar="PROMQL",
        help="--source prometheus: a query that answers 1 while the exporter is scraped.",
    ),
]
PromSampledQuery = Annotated[
    str | None,
    typer.Option(
        envvar="GATE_PROMETHEUS_SAMPLED_QUERY",
        metavar="PROMQL",
        help="--source prometheus: a query giving the Unix time of the exporter's last scrape (its samples' age).",
    ),
]
EmptyIsIdle = Annotated[
    bool,
    typer.Option(
        "--empty-is-idle",
        envvar="GATE_EMPTY_IS_IDLE",
        help=(
            "Read an exporter that lists no GPU process as an idle card. Off: that answer is blind, since the "
            "owner's exporter answers the same when its nvidia-smi fails (a device source can confirm idleness instead)."
        ),
    ),
]
DeviceSourceName = Annotated[
    str | None,
    typer.Option(
        "--device-source",
        envvar="GATE_DEVICE_SOURCE",
        metavar="dcgm|nvidia-smi",
        help="A device-level exporter read beside the per-pod source: memory it sees held counts even when the per-pod one misses it.",
    ),
]
DeviceUrl = Annotated[str | None, typer.Option(envvar="GATE_DEVICE_URL", metavar="URL", help="--device-source: its /metrics URL.")]
StartupGrace = Annotated[
    str,
    typer.Option(
        envvar="GATE_STARTUP_GRACE",
        metavar="DURATION",
        help="After entry, how long unlabelled new memory (up to the floor) is presumed the server's own while the exporter catches up.",
    ),
]
OwnPeak = Annotated[
    str,
    typer.Option(
        envvar="GATE_OWN_PEAK",
        metavar="SIZE",
        help="The server's measured GPU peak; with dcgm or nvidia-smi alone, growth since entry up to this is presumed its own.",
    ),
]
DemandUrl = Annotated[
    str | None,
    typer.Option(
        envvar="GATE_DEMAND_URL",
        metavar="URL",
        help='A queue answering {"queued": N}: the card is taken only with work waiting and given back once it is empty [default: off].',
    ),
]
DemandField = Annotated[str, typer.Option(envvar="GATE_DEMAND_FIELD", metavar="NAME", help="--demand-url: the count's field.")]
DemandIdleAfter = Annotated[
    str,
    typer.Option(
        envvar="GATE_DEMAND_IDLE_AFTER",
        metavar="DURATION",
        help="--demand-url: how long an explicit 0 must hold before the card is given back.",
    ),
]
DemandWindow = Annotated[
    str | None,
    typer.Option(
        envvar="GATE_DEMAND_WINDOW",
        metavar="HH:MM-HH:MM",
        help="--demand-url: the hours work waiting may take the card [default: any time].",
    ),
]
EntryMargin = Annotated[
    str,
    typer.Option(
        envvar="GATE_ENTRY_MARGIN", metavar="DURATION", help="No entry this close to the window's end (a start and a model load)."
    ),
]
DryRun = Annotated[bool, typer.Option("--dry-run", envvar="GATE_DRY_RUN", help="Decide and report; change nothing.")]
Output = Annotated[str, typer.Option("--output", "-o", envvar="GATE_OUTPUT", metavar="text|json", help="Report format: text or json.")]
LogFormat = Annotated[
    str,
    typer.Option(
        envvar="GATE_LOG_FORMAT",
        metavar="text|json",
        help="Log line format on stderr: text (logfmt) or json.",
    ),
]
Now = Annotated[str | None, typer.Option(envvar="GATE_NOW", metavar="TIME", hidden=True, help="Evaluate as if at this RFC 3339 instant.")]
Debug = Annotated[bool, typer.Option("--debug", envvar="GATE_DEBUG", help="Print a traceback on internal errors.")]


def _common_options(
    namespace: Namespace = None,
    deployment: Deployment = defaults.DEPLOYMENT,
    metrics_url: MetricsUrl = defaults.METRICS_URL,
    source: SourceName = defaults.SOURCE,
    floor: Floor = defaults.FLOOR,
    total: Total = defaults.TOTAL,
    window: WindowOpt = defaults.WINDOW,
    timezone_name: Timezone = defaults.TIMEZONE,
    cooldown: Cooldown = defaults.COOLDOWN,
    cooldown_max: CooldownMax = defaults.COOLDOWN_MAX,
    hysteresis: Hysteresis = defaults.HYSTERESIS,
    max_age: MaxAge = defaults.MAX_AGE,
    timeout: Timeout = defaults.TIMEOUT,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    prometheus_query: PromQuery = None,
    prometheus_up_query: PromUpQuery = None,
    prometheus_sampled_query: PromSampledQuery = None,
    empty_is_idle: EmptyIsIdle = defaults.EMPTY_IS_IDLE,
    device_source: DeviceSourceName = None,
    device_url: DeviceUrl = None,
    startup_grace: StartupGrace = defaults.STARTUP_GRACE,
    own_peak: OwnPeak = defaults.TTS_PEAK,
    demand_url: DemandUrl = None,
    demand_field: DemandField = defaults.DEMAND_FIELD,
    demand_idle_after: DemandIdleAfter = defaults.DEMAND_IDLE_AFTER,
    demand_window: DemandWindow = None,
    entry_margin: EntryMargin = defaults.ENTRY_MARGIN,
    dry_run: DryRun = False,
    output: Output = "text",
    log_format: LogFormat = "text",
    now: Now = None,
    debug: Debug = False,
) -> None:
    """Only a carrier of the shared options' signature; see `gate_command`."""


_COMMON = inspect.signature(_common_options, eval_str=True).parameters


def run_reporting_errors(body: Callable[[], None], debug: bool) -> None:
    """Run a command, turning every expected failure into one stderr line and its exit status."""
    try:
        body()
    except typer.Exit:
        raise
    except InvalidValue as exc:
        fail(str(exc), ExitStatus.USAGE)
    except KubeError as exc:
        fail(str(exc), for_kube_error(exc))
    except SourceError as exc:
        fail(str(exc), ExitStatus.METRICS)
    except KeyboardInterrupt:
        fail("interrupted", ExitStatus.INTERRUPTED)
    except Exception as exc:  # a bug: one line unless asked for the traceback
        if debug:
            typer.echo(redact(traceback.format_exc()), err=True, nl=False)
        fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)", ExitStatus.ERROR)


# Which shared options each kind of command declares: it shows and reads only those.
CLUSTER = {"namespace", "deployment", "kubeconfig", "context", "timeout", "now", "debug"}
CARD = set(_COMMON) - CLUSTER - {"dry_run", "output", "log_format"}  # the metrics, the policy, demand
ACTS = {"dry_run"}


def gate_command(*groups: set[str], needs_total: bool = True) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the shared options of `groups` and the shared error handling.

    The command is written as `def cmd(options: Options, <its own options>)`; the wrapper shows
    Typer one signature with both, parses the shared ones (the others at their defaults), and
    maps every expected failure to one stderr line and its exit status.
    """
    declared = set().union(*groups) if groups else set(_COMMON)

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = [p for name, p in inspect.signature(command, eval_str=True).parameters.items() if name != "options"]
        assert not {q.name for q in own} & set(_COMMON), "a command's own option shadows a shared one"

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> None:
            raw = {name: (kwargs.pop(name) if name in declared else p.default) for name, p in _COMMON.items()}

            def body() -> None:
                options, given_namespace = parse_options(raw, needs_total)
                command(with_cluster(options, given_namespace), **kwargs)

            run_reporting_errors(body, raw["debug"])

        parameters = own + [p for name, p in _COMMON.items() if name in declared]
        wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        del wrapper.__wrapped__  # Typer must read the combined signature, not the command's
        return wrapper

    return decorate


# -- the commands --------------------------------------------------------------------------------


def echo_json(payload: Any) -> None:
    """Pretty for a person at a terminal; one line for a log (a CronJob's, a pipe)."""
    typer.echo(json.dumps(payload, indent=2 if sys.stdout.isatty() else None))


def _finish(outcome: Outcome, options: Options) -> None:
    """One output per run, on stdout: the report, as text or JSON. Warnings, and the one line
    that names why a run failed, on stderr."""
    for warning in outcome.warnings:
        typer.echo(f"gate: warning: {warning}", err=True)
    if options.output == "json":
        echo_json(report.outcome_dict(outcome, options.settings))
    else:
        typer.echo(report.outcome_text(outcome))
    if outcome.view is not None and outcome.view.blind:
        fail(f"blind: {outcome.view.blind_reason}", ExitStatus.METRICS)  # the one line that says why


def _run_once(command: str, options: Options, deadline: str) -> None:
    deadline_seconds = parse_duration(deadline)
    if deadline_seconds < 0:
        raise InvalidValue(f"invalid deadline {deadline!r}: expected a duration, or 0 for none")
    source = options.source() if command != "down" else None
    device = options.device_source() if command != "down" else None
    demand = options.demand_probe() if command != "down" else None
    from gate.controller import decide_within

    with decide_within(options, command, deadline_seconds, os._exit):
        outcome = run(
            command, options.settings, source, options.kube(), options.clock(), dry_run=options.dry_run, device=device, demand=demand
        )
    _finish(outcome, options)


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


@app.command()
@gate_command(CLUSTER, CARD, ACTS, {"output"})
def preflight(options: Options, deadline: Deadline = defaults.ONE_SHOT_DEADLINE) -> None:
    """Take the card (scale to 1) if it is inside the window, the card has room and no cool-down is running.

    A no-op when already at 1 or more replicas. Refusals are recorded as Events on the Deployment.
    """
    _run_once("preflight", options, deadline)


IntervalOpt = Annotated[str, typer.Option("--interval", envvar="GATE_INTERVAL", metavar="DURATION", help="--watch: time between checks.")]
WatchOpt = Annotated[bool, typer.Option("--watch", envvar="GATE_WATCH", help="Keep guarding until SIGTERM (the sidecar).")]
MetricsPort = Annotated[
    int,
    typer.Option(envvar="GATE_METRICS_PORT", metavar="PORT", help="run, guard --watch: port serving /metrics and /healthz (0: none)."),
]
Iterations = Annotated[
    int,
    typer.Option(
        envvar="GATE_ITERATIONS",
        metavar="N",
        help="run, guard --watch: stop after this many checks (0: until SIGTERM).",
    ),
]
MetricsAddress = Annotated[
    str,
    typer.Option(
        envvar="GATE_METRICS_ADDRESS",
        metavar="ADDRESS",
        help="run, guard --watch: address the metrics port binds.",
    ),
]


@app.command()
@gate_command(CLUSTER, CARD, ACTS, {"output", "log_format"})
def guard(
    options: Options,
    watch: WatchOpt = False,
    interval: IntervalOpt = defaults.SIDECAR_INTERVAL,
    metrics_port: MetricsPort = defaults.METRICS_PORT,
    metrics_address: MetricsAddress = "0.0.0.0",
    iterations: Iterations = 0,
    deadline: Deadline = defaults.ONE_SHOT_DEADLINE,
) -> None:
    """Holding the card, give it back (scale to 0) when it has no room, the metrics are blind, or the window ended."""
    if not watch:
        _run_once("guard", options, deadline)
        return
    _loop(options, "guard", interval, metrics_port, metrics_address, iterations)


def _loop(
    options: Options, command: str, interval: str, metrics_port: int, metrics_address: str, iterations: int, enabled: bool = True
) -> None:
    interval_seconds = parse_duration(interval)
    if interval_seconds <= 0:
        raise InvalidValue(f"invalid interval {interval!r}: expected a positive duration")
    if not 0 <= metrics_port <= 65535:
        raise InvalidValue(f"invalid metrics port {metrics_port}: expected 0-65535")
    if iterations < 0:
        raise InvalidValue(f"invalid iterations {iterations}: expected 0 or more")
    from gate.controller import control

    control(options, interval_seconds, metrics_address, metrics_port, iterations=iterations, enabled=enabled, command=command)


ControllerInterval = Annotated[str, typer.Option("--interval", envvar="GATE_INTERVAL", metavar="DURATION", help="Time between ticks.")]
Enabled = Annotated[
    bool,
    typer.Option(
        "--enabled/--disabled",
        envvar="GATE_ENABLED",
        help="Disabled is the kill switch: every tick gives the card back and none takes it.",
    ),
]


@app.command(name="run")
@gate_command(CLUSTER, CARD, ACTS, {"log_format"})
def run_controller(
    options: Options,
    interval: ControllerInterval = defaults.CONTROLLER_INTERVAL,
    metrics_port: MetricsPort = defaults.METRICS_PORT,
    metrics_address: MetricsAddress = "0.0.0.0",
    iterations: Iterations = 0,
    enabled: Enabled = True,
) -> None:
    """The controller: every interval, decide as preflight, guard and down would, and act, until
    SIGTERM. Serves /metrics and /healthz (fails once the loop stops completing iterations)."""
    _loop(options, "tick", interval, metrics_port, metrics_address, iterations, enabled)


@app.command()
@gate_command(CLUSTER, ACTS, {"output"}, needs_total=False)
def down(options: Options, deadline: Deadline = defaults.ONE_SHOT_DEADLINE) -> None:
    """Give the card back (scale to 0) unconditionally: the window's end. Needs no metrics."""
    _run_once("down", options, deadline)


@app.command()
@gate_command(CLUSTER, CARD, {"output"})
def status(options: Options) -> None:
    """Show what the gate sees and what each command would decide. Changes nothing."""
    state, api_error, api_exc, ready = None, None, None, None
    try:
        deployment, state = read_state(options.kube(), options.settings)
        ready = report.ready_replicas(deployment)
    except KubeError as exc:
        api_error, api_exc = str(exc), exc
    view = look(options.source(), options.settings, options.clock(), state, options.device_source())
    probe = options.demand_probe()
    demand = probe() if probe is not None else None
    decisions = [policy.decide(cmd, view, state, options.settings, demand) for cmd in ("preflight", "guard")] if state else []
    if options.output == "json":
        payload = report.status_dict(view, state, options.settings, decisions, ready, demand)
        payload["api_error"] = api_error
        echo_json(payload)
    else:
        typer.echo(report.status_text(view, state, options.settings, decisions, api_error, ready, demand))
    if api_exc is not None:
        fail(str(api_exc), for_kube_error(api_exc))
    if view.blind:
        fail(f"blind: {view.blind_reason}", ExitStatus.METRICS)


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


@app.command()
@gate_command(CLUSTER, CARD, {"output"})
def check(
    options: Options,
    server_url: ServerUrl = None,
    voice: Voice = "Emily.wav",
    phrase: Phrase = "Welcome to the old town.",
    synth_timeout: SynthTimeout = "4m",
    allow_cpu: AllowCpu = False,
) -> None:
    """What `helm test` runs: the metrics are readable, the gate's RBAC is complete (server-side dry
    runs), and, when the Deployment wants a replica, the server answers with its model loaded and a
    short phrase comes back as WAV audio. Changes nothing."""
    from gate import check as checks

    results = [
        checks.check_metrics(options.source(), options.settings, options.clock(), options.device_source()),
        checks.check_rbac(options.kube(), options.settings),
    ]
    if server_url:
        wanted = checks.desired_replicas(options.kube(), options.settings)
        results.append(
            checks.check_server(server_url, voice, phrase, options.timeout_seconds, parse_duration(synth_timeout), wanted, allow_cpu)
        )
    if options.output == "json":
        echo_json([{"check": r.name, "passed": r.passed, "detail": r.detail} for r in results])
    else:
        for r in results:
            typer.echo(f"{'ok  ' if r.passed else 'FAIL'} {r.name}: {r.detail}")
    failed = [r for r in results if not r.passed]
    if failed:
        fail(f"check failed: {failed[0].name}: {failed[0].detail}", failed[0].status)


# -- replay and measure: the policy on recorded nights ---------------------------------------------

Traces = Annotated[list[Path] | None, typer.Argument(help="CSV traces: timestamp,namespace,pod,used_bytes.", show_default=False)]
PrometheusUrl = Annotated[
    str | None,
    typer.Option("--prometheus", envvar="GATE_PROMETHEUS_URL", metavar="URL", help="Read the range from this Prometheus instead."),
]
Start = Annotated[str | None, typer.Option(metavar="TIME", help="--prometheus: RFC 3339 start of the range.")]
End = Annotated[str | None, typer.Option(metavar="TIME", help="--prometheus: RFC 3339 end of the range.")]
Step = Annotated[str, typer.Option(metavar="DURATION", help="--prometheus: resolution of the range (the exporter's refresh).")]
ReplayNamespace = Annotated[str, typer.Option("--namespace", envvar="GATE_NAMESPACE", metavar="NAME", help="The TTS release's namespace.")]


def _load_trace(
    traces: list[Path] | None,
    prometheus: str | None,
    start: str | None,
    end: str | None,
    step: str,
    query: str | None,
    up_query: str | None,
) -> list[Trace]:
    if prometheus:
        if traces:
            raise InvalidValue("give trace files or --prometheus, not both")
        if not start or not end:
            raise InvalidValue("--prometheus needs --start and --end (RFC 3339)")
        begin, finish = parse_instant(start), parse_instant(end)
        if finish <= begin:
            raise InvalidValue(f"invalid range: --end {end!r} is not after --start {start!r}")
        config = SourceConfig(url=prometheus, query=query, up_query=up_query, timeout_seconds=30, max_bytes=64 * 2**20)
        rows, up = read_range(config, begin, finish, parse_duration(step))
        return [from_scrapes(rows, up, f"prometheus {start}..{end}")]
    if not traces:
        raise InvalidValue("give one or more trace files, or --prometheus with --start and --end")
    return [load_csv(path) for path in traces]


PolicyName = Annotated[
    str,
    typer.Option(
        "--policy",
        metavar="gate|seed|reactive",
        help="gate (this project), seed (the seed stack) or reactive.",
    ),
]
Compare = Annotated[bool, typer.Option("--compare", help="Replay the seed policy and this one side by side.")]
ActionsOut = Annotated[Path | None, typer.Option(metavar="FILE", help="Write every change of desired replicas as JSON lines.")]
PlotFile = Annotated[Path | None, typer.Option(metavar="FILE", help="Draw the night(s) to a .png or .svg file (needs matplotlib).")]
ReplayTotal = Annotated[str, typer.Option("--total", envvar="GATE_TOTAL", metavar="SIZE", help="The card's total memory.")]
ReplayWindow = Annotated[str, typer.Option("--window", envvar="GATE_WINDOW", metavar="HH:MM-HH:MM", help="The daily window.")]
TtsPeak = Annotated[
    str,
    typer.Option(metavar="SIZE", help="The TTS pod's GPU memory while it runs; above the floor less 256MiB, the guard yields over budget."),
]
TtsStart = Annotated[str, typer.Option(metavar="DURATION", help="From desired 1 to holding memory (scheduling, image, start).")]
TtsLoad = Annotated[str, typer.Option(metavar="DURATION", help="From holding memory to baking (the model load).")]
TtsRelease = Annotated[str, typer.Option(metavar="DURATION", help="From desired 0 to the memory freed.")]
SidecarInterval = Annotated[str, typer.Option(metavar="DURATION", help="The sidecar's interval; 0 for no sidecar.")]
ReplaySource = Annotated[
    str,
    typer.Option(
        "--source", metavar="gpu-pod-exporter|dcgm", help="The source replayed: per pod, or dcgm alone (which attributes nothing)."
    ),
]
ReplayDevice = Annotated[
    str | None,
    typer.Option("--device-source", metavar="dcgm|nvidia-smi", help="Replay a device-level second opinion beside the per-pod source."),
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


def _schedule_option(key: str) -> Any:
    return typer.Option(metavar="CRON", help=f"gate.cronJobs.{key}.schedule ('' for off).")


WindowUpSchedule = Annotated[str, _schedule_option("windowUp")]
ReentrySchedule = Annotated[
    str, typer.Option(metavar="CRON", help="A re-entry CronJob running preflight, as the first release had ('' for none).")
]
ReplayControllerInterval = Annotated[str, typer.Option(metavar="DURATION", help="The controller's interval (gate run); 0 for none.")]
DemandFile = Annotated[
    Path | None, typer.Option("--demand", metavar="FILE", help="The queue over the night (timestamp,queued): replay with demand.")
]
GuardSchedule = Annotated[str, _schedule_option("guard")]
WindowDownSchedule = Annotated[str, _schedule_option("windowDown")]
Headroom = Annotated[str, typer.Option(metavar="SIZE", help="Added to the peak: the race between reading free memory and allocating it.")]
Release = Annotated[str, typer.Option(metavar="NAME", help="The Helm release, for the printed command.")]


@app.command()
def replay(
    traces: Traces = None,
    policy_name: PolicyName = "gate",
    compare: Compare = False,
    actions_out: ActionsOut = None,
    plot: PlotFile = None,
    output: Output = "text",
    namespace: ReplayNamespace = "tts",
    deployment: Deployment = defaults.DEPLOYMENT,
    floor: Floor = defaults.FLOOR,
    total: ReplayTotal = defaults.TOTAL,
    window: ReplayWindow = defaults.WINDOW,
    timezone_name: Timezone = defaults.TIMEZONE,
    cooldown: Cooldown = defaults.COOLDOWN,
    cooldown_max: CooldownMax = defaults.COOLDOWN_MAX,
    hysteresis: Hysteresis = defaults.HYSTERESIS,
    tts_peak: TtsPeak = defaults.TTS_PEAK,
    tts_start: TtsStart = defaults.TTS_START,
    tts_load: TtsLoad = defaults.TTS_LOAD,
    tts_release: TtsRelease = defaults.TTS_RELEASE,
    sidecar_interval: SidecarInterval = defaults.SIDECAR_INTERVAL,
    controller_interval: ReplayControllerInterval = defaults.CONTROLLER_INTERVAL,
    demand_file: DemandFile = None,
    demand_idle_after: DemandIdleAfter = defaults.DEMAND_IDLE_AFTER,
    entry_margin: EntryMargin = defaults.ENTRY_MARGIN,
    source: ReplaySource = defaults.SOURCE,
    device_source: ReplayDevice = None,
    exporter_lag: ExporterLag = defaults.EXPORTER_LAG,
    empty_answer: EmptyAnswer = None,
    empty_is_idle: EmptyIsIdle = defaults.EMPTY_IS_IDLE,
    startup_grace: StartupGrace = defaults.STARTUP_GRACE,
    own_peak: OwnPeak = defaults.TTS_PEAK,
    window_up_schedule: WindowUpSchedule = defaults.WINDOW_UP_SCHEDULE,
    reentry_schedule: ReentrySchedule = "",
    guard_schedule: GuardSchedule = defaults.GUARD_SCHEDULE,
    window_down_schedule: WindowDownSchedule = defaults.WINDOW_DOWN_SCHEDULE,
    prometheus: PrometheusUrl = None,
    start: Start = None,
    end: End = None,
    step: Step = "15s",
    prometheus_query: PromQuery = None,
    prometheus_up_query: PromUpQuery = None,
    debug: Debug = False,
) -> None:
    """Replay recorded nights through the real policy with a simulated TTS pod, and report what the
    gate would have done: utilization, breach and conflict seconds, entries and yields per night.

    Defaults are the chart's. Changes nothing anywhere.
    """

    def body() -> None:
        from gate import replay as sim

        output_format = choice(output, ("text", "json"), "output format")
        policies = ["seed", "gate"] if compare else [choice(policy_name, sim.POLICIES, "policy")]
        tz = parse_timezone(timezone_name)
        interval = parse_duration(sidecar_interval)
        settings = policy.Settings(
            namespace=namespace,
            deployment=deployment,
            floor_bytes=parse_floor(floor, parse_size(total)),
            total_bytes=parse_size(total),
            window=parse_window(window, tz),
            stable_seconds=parse_duration(cooldown),
            cooldown_max_seconds=parse_duration(cooldown_max),
            hysteresis_bytes=parse_size(hysteresis),
            empty_is_idle=empty_is_idle,
            startup_grace_seconds=parse_duration(startup_grace),
            own_peak_bytes=parse_size(own_peak),
            entry_margin_seconds=parse_duration(entry_margin),
        )
        choice(source, sim.EXPORTER_SOURCES, "replayed source")
        queue = None
        if demand_file is not None:
            try:
                queue = sim.parse_demand_csv(demand_file.read_text(), demand_file.name)
            except OSError as exc:
                raise InvalidValue(f"cannot read the queue trace {str(demand_file)!r}: {exc.strerror}") from exc
        if device_source is not None:
            choice(device_source, DEVICE_SOURCE_NAMES, "device source")
            if source != "gpu-pod-exporter":
                raise InvalidValue(f"--device-source is a second opinion beside gpu-pod-exporter, not beside {source!r}")
        empty_windows = [parse_window(span, tz) for span in empty_answer or ()]
        schedules = sim.Schedules(
            window_up_schedule or None,
            reentry_schedule or None,
            guard_schedule or None,
            window_down_schedule or None,
            interval or None,
            parse_duration(controller_interval) or None,
        )
        for schedule in filter(None, (window_up_schedule, reentry_schedule, guard_schedule, window_down_schedule)):
            parse_cron(schedule)
        pod = sim.PodModel(parse_size(tts_peak), parse_duration(tts_start), parse_duration(tts_load), parse_duration(tts_release))
        loaded = _load_trace(traces, prometheus, start, end, step, prometheus_query, prometheus_up_query)

        def exporter(trace: Trace) -> sim.ExporterModel:
            return sim.ExporterModel(
                source=source,
                label_lag_seconds=parse_duration(exporter_lag),
                empty_spans=sim.daily_spans(empty_windows, trace.start, trace.end),
                device=device_source is not None,
            )

        def config(name: str, trace: Trace) -> sim.ReplayConfig:
            base = sim.ReplayConfig(name, settings, schedules, pod, exporter(trace))
            return sim.with_demand(base, queue, parse_duration(demand_idle_after), failure_every=0) if queue is not None else base

        results = [sim.replay(trace, config(name, trace)) for trace in loaded for name in policies]
        if actions_out:
            lines = [
                json.dumps(action.to_json() if not compare else {**action.to_json(), "policy": result.policy})
                for result in results
                for action in result.actions
            ]
            try:
                actions_out.write_text("".join(line + "\n" for line in lines))
            except OSError as exc:
                raise InvalidValue(f"cannot write {str(actions_out)!r}: {exc.strerror}") from exc
        if plot:
            if len({r.trace.name for r in results}) > 1:
                raise InvalidValue("--plot draws one night's trace: give one trace file")
            from gate.plot import plot_night

            plot_night(results, plot, ", ".join(sorted({r.trace.name for r in results})))
        rows = [(r.trace.name, night) for r in results for night in r.nights]
        if output_format == "json":
            echo_json([{"trace": name, **night.to_json()} for name, night in rows])
        else:
            typer.echo(report.replay_table(rows))

    run_reporting_errors(body, debug)


@app.command()
def measure(
    traces: Traces = None,
    namespace: ReplayNamespace = "tts",
    deployment: Deployment = defaults.DEPLOYMENT,
    headroom: Headroom = "2GiB",
    floor: Floor = defaults.FLOOR,
    release: Release = "tts",
    output: Output = "text",
    prometheus: PrometheusUrl = None,
    start: Start = None,
    end: End = None,
    step: Step = "15s",
    prometheus_query: PromQuery = None,
    prometheus_up_query: PromUpQuery = None,
    debug: Debug = False,
) -> None:
    """Measure the TTS pod's GPU memory over a range in which it baked, print the observed peak
    beside the configured floor (the server's budget), and the floor to set (peak + headroom) as the
    exact `helm upgrade` line."""

    def body() -> None:
        from gate.measure import NothingToMeasure, helm_line, measure, report_text

        output_format = choice(output, ("text", "json"), "output format")
        settings = policy.Settings(namespace=namespace, deployment=deployment, floor_bytes=parse_floor(floor, None))
        if traces and len(traces) > 1:
            raise InvalidValue(f"gate measure reads one trace, got {len(traces)}")
        [trace] = _load_trace(traces, prometheus, start, end, step, prometheus_query, prometheus_up_query)
        try:
            result = measure(trace, settings, parse_size(headroom))
        except NothingToMeasure as exc:
            fail(str(exc), ExitStatus.NOTHING_TO_MEASURE)
        if output_format == "json":
            payload = {
                **result.__dict__,
                "held_seconds": result.held_seconds,
                "floor_bytes": result.floor_bytes,
                "floor": result.floor_text,
                "configured_floor_bytes": settings.floor_bytes,
                "budget_bytes": policy.budget_bytes(settings.floor_bytes),
                "over_budget": result.peak_bytes > policy.budget_bytes(settings.floor_bytes),
                "helm": helm_line(result, release, namespace),
            }
            echo_json(payload)
        else:
            typer.echo(report_text(result, release, namespace, settings.floor_bytes))

    run_reporting_errors(body, debug)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
