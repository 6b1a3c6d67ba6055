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
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from gate import __version__, defaults, policy, report
from gate import settings as gate_settings
from gate.cron import chart_schedules, parse_cron
from gate.kube.errors import KubeError
from gate.options import ConfigWatch, Options, choice, parse_options, with_cluster
from gate.run import Outcome, decide, look, read_state, run, write_state
from gate.sources import SourceConfig, SourceError
from gate.sources.prometheus import read_range
from gate.status import EXIT_STATUS_HELP, ExitStatus, for_kube_error
from gate.trace import Trace, from_scrapes, load_csv
from gate.units import InvalidValue, parse_duration, parse_floor, parse_instant, parse_size, parse_window

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
#
# The settings' options are made from gate/settings.py's table (their flag, variable, help and
# default); the others (who and where: namespace, kubeconfig, ...; how: --dry-run, --output)
# are written here. Each alias is written once.

Namespace = Annotated[
    str | None,
    typer.Option(
        envvar="GATE_NAMESPACE",
        metavar="NAME",
        help="Namespace of the TTS Deployment [default: the pod's own, or the kubeconfig context's].",
    ),
]
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
Output = Annotated[str, typer.Option("--output", "-o", envvar="GATE_OUTPUT", metavar="text|json", help="Report format: text or json.")]
Now = Annotated[str | None, typer.Option(envvar="GATE_NOW", metavar="TIME", hidden=True, help="Evaluate as if at this RFC 3339 instant.")]
Debug = Annotated[bool, typer.Option("--debug", envvar="GATE_DEBUG", help="Print a traceback on internal errors.")]


def setting_option(setting: gate_settings.Setting) -> Any:
    """The command line's option for one row of the settings table."""
    if setting.kind == gate_settings.Kind.BOOL:
        return Annotated[bool, typer.Option(setting.flag, envvar=setting.env, help=setting.help, show_default=True)]
    shown = str(setting.default) if setting.default != "" else False
    return Annotated[
        str | None,
        typer.Option(setting.flag, envvar=setting.env, metavar=setting.metavar, help=setting.help, show_default=shown),
    ]


def _setting_default(setting: gate_settings.Setting) -> Any:
    return setting.default if setting.default != "" else None


def _parameter(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


_COMMON: dict[str, inspect.Parameter] = {
    p.name: p
    for p in [
        _parameter("namespace", Namespace, None),
        _parameter("deployment", Deployment, defaults.DEPLOYMENT),
        _parameter("config", Config, None),
        *(_parameter(s.param, setting_option(s), _setting_default(s)) for s in gate_settings.SHARED),
        _parameter("kubeconfig", Kubeconfig, None),
        _parameter("context", Context, None),
        _parameter("dry_run", DryRun, False),
        _parameter("output", Output, "text"),
        _parameter("now", Now, None),
        _parameter("debug", Debug, False),
    ]
}
_SETTING_PARAMS = {s.param: s for s in gate_settings.SHARED}


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
CLUSTER = {"namespace", "deployment", "config", "kubeconfig", "context", "timeout", "now", "debug"}
CARD = {s.param for s in gate_settings.SHARED if s.group == "card"}  # the metrics, the policy, demand, the switch
ACTS = {"dry_run"}
# Click's ParameterSource, by name (Typer carries its own copy of Click).
_ORIGINS = {"COMMANDLINE": gate_settings.Origin.FLAG, "ENVIRONMENT": gate_settings.Origin.VARIABLE}
# Typer passes the Click context to a parameter annotated so; the commands declare it to learn
# where each value came from.
_CONTEXT = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)


def given_settings(ctx: typer.Context, names: dict[str, str], values: dict[str, Any]) -> dict[str, tuple[Any, gate_settings.Origin]]:
    """The settings a flag or a variable gave (parameter name -> its key in `names`), with which
    of the two; what neither gave is left to the file and the defaults (`settings.resolve`)."""
    given = {}
    for param, key in names.items():
        source = ctx.get_parameter_source(param)
        origin = _ORIGINS.get(source.name) if source is not None else None
        if origin is not None:
            given[key] = (values[param], origin)
    return given


def gate_command(
    *groups: set[str], needs_total: bool = True, own_settings: dict[str, str] | None = None
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the shared options of `groups` and the shared error handling.

    The command is written as `def cmd(options: Options, <its own options>)`; the wrapper shows
    Typer one signature with both, resolves the settings (flag > variable > --config file >
    default, `settings.resolve`), parses them and the other shared options (the others at their
    defaults), and maps every expected failure to one stderr line and its exit status.
    `own_settings` maps a command's own option to its settings key (`--interval`).
    """
    declared = set().union(*groups) if groups else set(_COMMON)
    own_keys = own_settings or {}

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = [p for name, p in inspect.signature(command, eval_str=True).parameters.items() if name != "options"]
        assert not {q.name for q in own} & set(_COMMON), "a command's own option shadows a shared one"

        @functools.wraps(command)
        def wrapper(ctx: typer.Context, **kwargs: Any) -> None:
            raw = {name: (kwargs.pop(name) if name in declared else p.default) for name, p in _COMMON.items()}
            names = {param: s.key for param, s in _SETTING_PARAMS.items() if param in declared}
            given = given_settings(ctx, {**names, **own_keys}, {**raw, **kwargs})

            def build(document: gate_settings.Document | None) -> Options:
                options, given_namespace = parse_options(raw, gate_settings.resolve(given, document), needs_total)
                return with_cluster(options, given_namespace)

            def body() -> None:
                document = gate_settings.load(raw["config"]) if raw["config"] else None
                options = build(document)
                if document is not None:
                    options = replace(options, watch=ConfigWatch(document, build))
                command(options, **kwargs)

            run_reporting_errors(body, raw["debug"])

        parameters = [_CONTEXT, *own, *(p for name, p in _COMMON.items() if name in declared)]
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


def _interval_option(key: str) -> Any:
    setting = gate_settings.BY_KEY[key]
    return Annotated[
        str,
        typer.Option(setting.flag, envvar=setting.env, metavar=setting.metavar, help=f"{setting.help} (gate.{key} in --config)"),
    ]


SidecarInterval = _interval_option("sidecar.interval")
ControllerInterval = _interval_option("controller.interval")
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
@gate_command(CLUSTER, CARD, ACTS, {"output", "log_format"}, own_settings={"interval": "sidecar.interval"})
def guard(
    options: Options,
    watch: WatchOpt = False,
    interval: SidecarInterval = gate_settings.BY_KEY["sidecar.interval"].default,  # type: ignore[assignment]
    metrics_port: MetricsPort = defaults.METRICS_PORT,
    metrics_address: MetricsAddress = "0.0.0.0",
    iterations: Iterations = 0,
    deadline: Deadline = defaults.ONE_SHOT_DEADLINE,
) -> None:
    """Holding the card, give it back (scale to 0) when it has no room, the metrics are blind, the window ended or the gate is paused."""
    if not watch:
        _run_once("guard", options, deadline)
        return
    _loop(options, "guard", "sidecar.interval", metrics_port, metrics_address, iterations)


def _loop(options: Options, command: str, interval_key: str, metrics_port: int, metrics_address: str, iterations: int) -> None:
    if not 0 <= metrics_port <= 65535:
        raise InvalidValue(f"invalid metrics port {metrics_port}: expected 0-65535")
    if iterations < 0:
        raise InvalidValue(f"invalid iterations {iterations}: expected 0 or more")
    from gate.controller import control

    control(options, interval_key, metrics_address, metrics_port, iterations=iterations, command=command)


@app.command(name="run")
@gate_command(CLUSTER, CARD, ACTS, {"log_format"}, own_settings={"interval": "controller.interval"})
def run_controller(
    options: Options,
    interval: ControllerInterval = gate_settings.BY_KEY["controller.interval"].default,  # type: ignore[assignment]
    metrics_port: MetricsPort = defaults.METRICS_PORT,
    metrics_address: MetricsAddress = "0.0.0.0",
    iterations: Iterations = 0,
) -> None:
    """The controller: every interval, decide as preflight, guard and down would, and act, until
    SIGTERM. Serves /metrics and /healthz (fails once the loop stops completing iterations).
    Paused (--disabled, `enabled: false`, or `gate pause`), every tick gives the card back and none takes it."""
    _loop(options, "tick", "controller.interval", metrics_port, metrics_address, iterations)


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
    decisions = [decide(cmd, view, state, options.settings, demand) for cmd in ("preflight", "guard")] if state else []
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


@app.command()
@gate_command(CLUSTER, ACTS, {"output"}, needs_total=False)
def pause(options: Options) -> None:
    """Pause the gate from the cluster: set tts.gate/paused "true" on its Lease. The controller
    and the sidecar give the card back within one interval and nothing takes it until `gate
    resume` (as `enabled: false` in the settings does, without touching the chart)."""
    _switch(options, paused=True)


@app.command()
@gate_command(CLUSTER, ACTS, {"output"}, needs_total=False)
def resume(options: Options) -> None:
    """Clear the Lease's pause switch (tts.gate/paused); `enabled: false` in the settings still pauses."""
    _switch(options, paused=False)


def _switch(options: Options, paused: bool) -> None:
    settings = options.settings
    write_state(options.kube(), settings, {policy.PAUSED: "true" if paused else None}, dry_run=options.dry_run)
    from gate.run import lease_name

    still = [] if settings.enabled else ["enabled: false in the settings"]
    if options.output == "json":
        echo_json({"paused": paused or bool(still), "lease": lease_name(settings), "paused_by": still, "dry_run": options.dry_run})
        return
    prefix = "[dry run] " if options.dry_run else ""
    if paused:
        typer.echo(
            f"{prefix}paused: Lease {lease_name(settings)} has {policy.PAUSED}=true; the controller and the sidecar give "
            "the card back within one interval, and nothing takes it until `gate resume`"
        )
    else:
        tail = f"; still paused by {still[0]}" if still else "; the gate decides again from its next run"
        typer.echo(f"{prefix}resumed: {policy.PAUSED} removed from Lease {lease_name(settings)}{tail}")


ConfigFile = Annotated[
    str, typer.Argument(metavar="FILE|-", help="The settings document; - reads it (or `helm template` output) from stdin.")
]


def check_config(ctx: typer.Context, path: ConfigFile, output: Output = "text", **given: Any) -> None:
    """Validate a settings document offline, as `promtool check config` does, and print the
    effective settings with where each came from (default, file, variable, flag). Exit 2 on a
    bad file; nothing is contacted."""

    def body() -> None:
        document = gate_settings.load(path)
        names = {s.param: s.key for s in gate_settings.SHARED}
        resolved = gate_settings.resolve(given_settings(ctx, names, given), document)
        gate_settings.parse(resolved.values, resolved.origins, document.path, needs_total=True)
        output_format = choice(output, tuple(gate_settings.Format), "output format")
        rows = [(key, resolved.values[key], resolved.origins[key].value) for key in gate_settings.BY_KEY]
        if output_format == "json":
            echo_json({"file": document.path, "hash": document.hash, "settings": [{"key": k, "value": v, "from": o} for k, v, o in rows]})
            return
        width = max(len(k) for k, _, _ in rows)
        typer.echo(f"{document.path}: valid (hash {document.hash})")
        for key, value, origin in rows:
            shown = json.dumps(value) if value == "" or isinstance(value, bool) else str(value)
            typer.echo(f"{key:<{width}}  {shown}  ({origin})")

    run_reporting_errors(body, False)


check_config.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        _CONTEXT,
        inspect.Parameter("path", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=ConfigFile),
        inspect.Parameter("output", inspect.Parameter.KEYWORD_ONLY, default="text", annotation=Output),
        *(p for name, p in _COMMON.items() if name in _SETTING_PARAMS),
    ]
)
app.command(name="check-config")(check_config)


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
PromQuery = setting_option(gate_settings.BY_KEY["prometheus.query"])
# measure prints the observed peak beside the floor the gate runs with (the server's budget).
MeasureFloor = setting_option(gate_settings.BY_KEY["floor"])
PromUpQuery = setting_option(gate_settings.BY_KEY["prometheus.upQuery"])
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


class PolicyChoice(StrEnum):
    GATE = "gate"
    SEED = "seed"
    REACTIVE = "reactive"


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
TtsPeak = Annotated[str, typer.Option(metavar="SIZE", help="The TTS pod's GPU memory while it runs.")]
TtsStart = Annotated[str, typer.Option(metavar="DURATION", help="From desired 1 to holding memory (scheduling, image, start).")]
TtsLoad = Annotated[str, typer.Option(metavar="DURATION", help="From holding memory to baking (the model load).")]
TtsRelease = Annotated[str, typer.Option(metavar="DURATION", help="From desired 0 to the memory freed.")]
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

# The settings `gate replay` replays, as the live commands take them (and --config).
REPLAYED = (
    "config",
    "source",
    "floor",
    "total",
    "window",
    "timezone_name",
    "cooldown",
    "cooldown_max",
    "hysteresis",
    "empty_is_idle",
    "device_source",
    "startup_grace",
    "own_peak",
    "entry_margin",
    "demand_idle_after",
    "enabled",
)


def replay(
    ctx: typer.Context,
    traces: Traces = None,
    policy_name: PolicyName = "gate",
    compare: Compare = False,
    actions_out: ActionsOut = None,
    plot: PlotFile = None,
    output: Output = "text",
    namespace: ReplayNamespace = "tts",
    deployment: Deployment = defaults.DEPLOYMENT,
    tts_peak: TtsPeak = defaults.TTS_PEAK,
    tts_start: TtsStart = defaults.TTS_START,
    tts_load: TtsLoad = defaults.TTS_LOAD,
    tts_release: TtsRelease = defaults.TTS_RELEASE,
    sidecar_interval: ReplaySidecarInterval = None,
    controller_interval: ReplayControllerInterval = None,
    demand_file: DemandFile = None,
    exporter_lag: ExporterLag = defaults.EXPORTER_LAG,
    empty_answer: EmptyAnswer = None,
    paused: PausedSpans = None,
    window_up_schedule: WindowUpSchedule = None,
    reentry_schedule: ReentrySchedule = "",
    guard_schedule: GuardSchedule = None,
    window_down_schedule: WindowDownSchedule = None,
    prometheus: PrometheusUrl = None,
    start: Start = None,
    end: End = None,
    step: Step = "15s",
    prometheus_query: PromQuery = None,
    prometheus_up_query: PromUpQuery = None,
    debug: Debug = False,
    **given: Any,
) -> None:
    """Replay recorded nights through the real policy with a simulated TTS pod, and report what the
    gate would have done: utilization, breach and conflict seconds, entries and yields per night.

    Defaults are the chart's; --config gate.yaml (the chart's rendered settings) replays what the
    cluster runs. Changes nothing anywhere.
    """

    def body() -> None:
        from gate import replay as sim

        output_format = choice(output, tuple(gate_settings.Format), "output format")
        policies = ["seed", "gate"] if compare else [choice(policy_name, tuple(PolicyChoice), "policy")]
        document = gate_settings.load(given["config"]) if given.get("config") else None
        names = {p: _SETTING_PARAMS[p].key for p in REPLAYED if p in _SETTING_PARAMS}
        flags = given_settings(
            ctx,
            {**names, "sidecar_interval": "sidecar.interval", "controller_interval": "controller.interval"},
            {**given, "sidecar_interval": sidecar_interval, "controller_interval": controller_interval},
        )
        # 0 switches a loop off in the replay; the settings' intervals are always above zero.
        off = {key for key, (value, _) in flags.items() if key.endswith(".interval") and parse_duration(value) == 0}
        resolved = gate_settings.resolve({k: v for k, v in flags.items() if k not in off}, document)
        # What the simulation can replay, before the settings' own rules.
        choice(resolved.values["source"], sim.EXPORTER_SOURCES, "replayed source")
        if resolved.values["device.source"] and resolved.values["source"] != "gpu-pod-exporter":
            raise InvalidValue(f"--device-source is a second opinion beside gpu-pod-exporter, not beside {resolved.values['source']!r}")
        parsed = gate_settings.parse(resolved.values, resolved.origins, resolved.path, needs_total=True, fetches=False).values
        if parsed["total"] is None:
            raise InvalidValue("gate replay needs the card's total: --total (total in --config), e.g. 15360MiB")
        settings = gate_settings.policy_settings(parsed, namespace, deployment)
        source, device_source, tz = parsed["source"], parsed["device.source"], parsed["timeZone"]
        queue = None
        if demand_file is not None:
            try:
                queue = sim.parse_demand_csv(demand_file.read_text(), demand_file.name)
            except OSError as exc:
                raise InvalidValue(f"cannot read the queue trace {str(demand_file)!r}: {exc.strerror}") from exc
        empty_windows = [parse_window(span, tz) for span in empty_answer or ()]
        paused_windows = [parse_window(span, tz) for span in paused or ()]
        # The chart's CronJobs: derived from the window as the chart derives them (window-up
        # suspended while enabled is false), unless given.
        derived = list(chart_schedules(settings.window))
        if not settings.enabled:
            derived[0] = None
        up, guard_cron, down_cron = (
            flag if flag is not None else (schedule or "")
            for flag, schedule in zip((window_up_schedule, guard_schedule, window_down_schedule), derived, strict=True)
        )
        schedules = sim.Schedules(
            up or None,
            reentry_schedule or None,
            guard_cron or None,
            down_cron or None,
            None if "sidecar.interval" in off else parsed["sidecar.interval"],
            None if "controller.interval" in off else parsed["controller.interval"],
        )
        for schedule in filter(None, (up, reentry_schedule, guard_cron, down_cron)):
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
            base = sim.ReplayConfig(
                name,
                settings,
                schedules,
                pod,
                exporter(trace),
                paused_spans=sim.daily_spans(paused_windows, trace.start, trace.end),
                timezone=tz,
            )
            return sim.with_demand(base, queue, parsed["demand.idleAfter"], failure_every=0) if queue is not None else base

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


replay.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        *(p for name, p in inspect.signature(replay, eval_str=True).parameters.items() if name != "given"),
        *(_COMMON[name] for name in REPLAYED),
    ]
)
app.command()(replay)


@app.command()
def measure(
    traces: Traces = None,
    namespace: ReplayNamespace = "tts",
    deployment: Deployment = defaults.DEPLOYMENT,
    headroom: Headroom = "2GiB",
    floor: MeasureFloor = gate_settings.BY_KEY["floor"].default,  # type: ignore[assignment]
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
