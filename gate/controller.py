"""`gate run`: the gate as one long-running controller.

Every interval it runs one cycle (`gate.cycle`: read, look, `policy.step`, act) as preflight,
guard and down would decide, from the same pure policy (`policy.decide_tick`). It is the chart's main mechanism: it re-enters within one
interval of a cool-down's end, where a CronJob waited for the next minute plus a pod start, and
creates no pods. The CronJobs and the server pod's sidecar stay as its safety net.

- SIGTERM and SIGINT only set a flag: the iteration under way finishes (a scale-down is never
  left half done) and the loop ends with status 0.
- A failed iteration is logged and counted, never fatal: the API failing, the next one tries
  again; anything else (a bug, a surprise) is read as blindness, so holding the card, the card
  is given back at once, and the loop carries on.
- A watchdog beside the loop (`gate.watchdog`) shares nothing with its read path: if no
  iteration has decided within 2 intervals + the timeout, it vetoes the entries in flight and,
  when the Deployment reads held, gives the card back through its own API client and says why.
  Reads cannot stall an iteration for long (every fetch has a deadline), but the watchdog does
  not depend on that.
- A yield whose state could not be written is tried once more at the start of the next
  iteration, then dropped (it reads as a yield meanwhile): a record never stops the deciding.
- Each iteration checks the wall clock against the monotonic clock (`cycle.ClockCheck`): a jump
  larger than the interval restarts the stored timers (the cool-down, the idle timer).
- Events and log lines come when the decision's reason changes, as Kubernetes' own event
  recorder aggregates repeats: not one per tick.
- /healthz fails once no iteration has completed for max(3 intervals, 60 s): a stuck loop gets
  the pod restarted, while a metrics thread that still answers would not.
- Parking (park.enabled, and a control port given: `ControlPort`): the controller's tick parks
  and unparks, the sidecar's guard parks (`policy.Control`); a one-shot run never does. A park or
  an unpark holds the iteration for at most park.timeout plus its answer's grace, then fails and
  scales to 0; the watchdog's bound is the loop's plus that (`watchdog_bound`).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import typer

from gate import cycle, policy, report
from gate.cycle import ClockCheck, Outcome
from gate.kube.client import MAX_RETRY_AFTER_SECONDS, KubeClient
from gate.kube.errors import KubeError
from gate.live import DeploymentTarget, look_live, observer, read_state, store_for, target_for
from gate.options import Options
from gate.policy import Control, Demand, Reason
from gate.serve import GateServer
from gate.sources.control import ANSWER_GRACE_SECONDS, ControlConfig, ServerControl
from gate.store import StateStore, StoredState, merge
from gate.telemetry import WatchMetrics
from gate.units import InvalidValue, format_duration
from gate.watchdog import Watchdog, watchdog_bound

# Steady states: a change into one of these is logged but is not an Event.
_QUIET = {Reason.HOLDING, Reason.NOT_HOLDING, Reason.ALREADY_UP, Reason.ALREADY_DOWN, Reason.STILL_PARKED}


@dataclass(frozen=True)
class ControlPort:
    """Where a loop that parks finds the server's control port, and its token's file."""

    url: str
    token_file: str

    @classmethod
    def parse(cls, url: str, token_file: str) -> ControlPort:
        """InvalidValue naming the URL or the token file when either cannot serve, before any I/O
        but the token's read."""
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in ("http", "https") or not parts.hostname or port is None or parts.path not in ("", "/"):
            raise InvalidValue(f"invalid control URL {url!r}: expected http://HOST:PORT, e.g. http://127.0.0.1:8005")
        try:
            token = Path(token_file).read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidValue(f"cannot read the control token file {token_file!r}: {getattr(exc, 'strerror', None) or exc}") from exc
        if not token:
            raise InvalidValue(f"the control token file {token_file!r} is empty: expected the Secret's token")
        return cls(url, token_file)


def server_for(options: Options, port: ControlPort | None) -> ServerControl | None:
    """The control port's client at the settings in use (park.timeout bounds a park or unpark)."""
    if port is None:
        return None
    return ServerControl(ControlConfig(port.url, port.token_file, options.timeout_seconds, options.parsed["park.timeout"]))


def loop_bound(options: Options, interval_seconds: float, port: ControlPort | None) -> float:
    """The watchdog's bound for a loop: `watchdog_bound`, plus a park's bound where it parks."""
    bound = watchdog_bound(interval_seconds, options.timeout_seconds)
    if port is not None and options.settings.park is not None:
        bound += options.settings.park.timeout_seconds + ANSWER_GRACE_SECONDS
    return bound


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An Event set by SIGTERM or SIGINT (signals reach only the main thread)."""
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Liveness:
    """Healthy while an iteration completed within max(3 intervals, 60 s); the start counts."""

    def __init__(self, interval_seconds: float):
        self.limit = max(3 * interval_seconds, 60.0)
        self.last = time.monotonic()

    def succeeded(self) -> None:
        self.last = time.monotonic()

    def problem(self) -> str | None:
        age = time.monotonic() - self.last
        return f"the loop last completed an iteration {format_duration(age)} ago" if age > self.limit else None


def control(
    options: Options,
    interval_key: str,
    address: str,
    port: int,
    iterations: int = 0,
    command: str = "tick",
    control_port: ControlPort | None = None,
) -> Options:
    """Run `command` every interval until SIGTERM/SIGINT, or `iterations` times when not 0:
    `tick` for the controller, `guard` for the sidecar (`guard --watch`). `interval_key` is the
    loop's interval in the settings (controller.interval, sidecar.interval).

    With a --config file, each iteration first re-reads it (`ConfigWatch`): a changed file that
    passes is used from this iteration on; one that does not is refused with one log line, an
    Event and gate_config_valid 0, and the last good settings stay. A file refused from the
    start leaves the loop blind (holding, it gives the card back) until one passes. A reload
    never acts by itself, and never raises. Returns the options in use at the end (`refused`:
    still blind). With `control_port`, the loop parks (and, the controller's, unparks)."""
    interval_seconds = options.parsed[interval_key]
    metrics = WatchMetrics(deployment=options.settings.deployment)
    metrics.record_config(options.watch.applied if options.watch else None, valid=options.refused is None)
    liveness = Liveness(interval_seconds)
    source, device, kube, demand = options.source(), options.device_source(), options.kube(), options.demand_probe()
    watchdog = watchdog_for(options, loop_bound(options, interval_seconds, control_port), metrics)
    target = target_for(kube, options.settings, server_for(options, control_port))
    reach = (Control.FULL if command == "tick" else Control.PARK) if control_port is not None else Control.NONE
    loop = Iteration(command, target, store_for(kube, options.settings), watchdog, metrics, liveness, control=reach)
    done = 0
    server = GateServer(metrics.registry, address, port, liveness.problem) if port else None
    with stop_on_signals() as stop, server or _nothing():
        dog = threading.Thread(target=watchdog.watch, args=(stop,), name="gate-watchdog", daemon=True)
        dog.start()
        name = "run" if command == "tick" else f"{command} --watch"
        paused = " and ".join(policy.paused_by(None, options.settings))
        blind = ", BLIND: the settings file was refused" if options.refused is not None else ""
        typer.echo(f"gate: {name}: every {format_duration(interval_seconds)}{f', PAUSED by {paused}' if paused else ''}{blind}", err=True)
        while not stop.is_set():
            started = time.monotonic()
            reloaded = _reload(options, name, kube, loop.target.deployment, metrics)
            if reloaded is not None:
                options = reloaded
                source, device, demand = options.source(), options.device_source(), options.demand_probe()
                interval_seconds = options.parsed[interval_key]
                liveness.limit = Liveness(interval_seconds).limit
                watchdog.settings = options.settings
                watchdog.bound = loop_bound(options, interval_seconds, control_port)
                loop.target.server = server_for(options, control_port)
            loop.run(options, interval_seconds, observer(source, device), demand, started)
            done += 1
            if iterations and done >= iterations:
                break
            stop.wait(max(0.0, interval_seconds - (time.monotonic() - started)))
        stop.set()
        # A give-back in flight finishes before the process ends: two API calls, with their retries.
        dog.join(timeout=2 * (2 * options.timeout_seconds + MAX_RETRY_AFTER_SECONDS))
    typer.echo(f"gate: {name} stopped", err=True)
    return options


def _reload(options: Options, name: str, kube: KubeClient, deployment: dict | None, metrics: WatchMetrics) -> Options | None:
    """The settings file read again (`ConfigWatch.poll`): new options when it changed and
    passes, else None; a refusal is one log line, an Event and gate_config_valid 0. Never
    raises: a surprise here keeps what is in use, as a refusal does."""
    watch = options.watch
    if watch is None:
        return None
    try:
        reload = watch.poll()
        if reload is None:
            return None
        if reload.options is not None:
            typer.echo(f"gate: {name}: settings reloaded from {watch.path} (hash {reload.hash})", err=True)
            metrics.record_config(watch.applied, valid=True)
            return reload.options
        typer.echo(f"gate: {name}: settings refused: {reload.problem}", err=True)
        # The Event before the gauge: whoever sees gate_config_valid 0 finds the Event saying why.
        _record_refusal(kube, options, deployment, reload.problem or "")
        metrics.record_config(watch.applied, valid=False)
    except Exception as exc:
        typer.echo(f"gate: {name}: the settings reload failed, keeping what is in use: {type(exc).__name__}: {str(exc)[:200]}", err=True)
    return None


def watchdog_for(options: Options, bound_seconds: float, metrics: WatchMetrics | None = None) -> Watchdog:
    """A watchdog with an API client of its own (never the loop's: a stuck call must not hold it up)."""
    kube = options.kube()
    on_yield = metrics.watchdog_yields.inc if metrics is not None else None
    return Watchdog(
        target_for(kube, options.settings),
        store_for(kube, options.settings),
        options.settings,
        bound_seconds,
        options.clock,
        options.dry_run,
        on_yield,
    )


@dataclass
class Iteration:
    """One of the loop's iterations, and what the loop carries from one to the next: the last
    decision's key (for Events on a change), a yield's unwritten record, the clock check."""

    command: str
    target: DeploymentTarget
    store: StateStore
    watchdog: Watchdog
    metrics: WatchMetrics
    liveness: Liveness
    previous: tuple[str, Reason] | None = None
    unwritten: tuple[StoredState, Mapping[str, str | None]] | None = None
    clock: ClockCheck = field(default_factory=lambda: ClockCheck(0))
    jump: float = 0.0  # a clock jump not yet decided with
    control: Control = Control.NONE  # what this loop may ask of the server's control port

    def run(
        self,
        options: Options,
        interval_seconds: float,
        observe: Callable[[], policy.Observation],
        demand: Callable[[], Demand] | None,
        started: float,
    ) -> None:
        """Decide and act once. An API failure is logged and counted; anything else is read as
        blindness: holding the card, the watchdog gives it back now. Never raises."""
        self.clock.tolerance = max(interval_seconds, 1.0)
        try:
            self._write_unwritten(options)
            now = options.clock()
            # A pinned clock (--now) is not a clock: nothing to check it against. A jump is kept
            # until an iteration has decided with it (one that failed first would lose it).
            jump = self.clock.jump(now, time.monotonic()) if options.now is None else 0.0
            self.jump = jump if abs(jump) > abs(self.jump) else self.jump
            outcome = cycle.cycle(
                self.command,
                options.settings,
                self.store,
                self.target,
                now,
                observe,
                demand,
                veto=self.watchdog.veto(started),
                clock_jump_seconds=self.jump,
                dry_run=options.dry_run,
                record_event=False,
                control=self.control,
            )
        except KubeError as exc:
            self.metrics.record_api_error(type(exc).__name__)
            typer.echo(f"gate: {exc}", err=True)
        except Exception as exc:  # a surprise: blind, so holding the card, give it back; carry on
            self.metrics.record_iteration_error(type(exc).__name__)
            self.watchdog.step_in(f"the iteration failed: {cycle.one_line(exc)}")
        else:
            if outcome.unwritten is not None:
                self.unwritten = (outcome.stored, outcome.unwritten)
            self.jump = 0.0
            self.watchdog.decided(started)
            self.metrics.record(outcome, options.settings, time.time())
            self.liveness.succeeded()
            self.previous = _report(outcome, self.previous, options, self.target)

    def _write_unwritten(self, options: Options) -> None:
        """A yield's record that the last iteration could not write: one more try, then it is
        dropped (the state reads as a yield without it). Never stops the iteration."""
        if self.unwritten is None or options.dry_run:
            return
        unwritten, self.unwritten = self.unwritten, None
        try:
            merge(self.store, *unwritten)
        except (KubeError, cycle.Conflict) as exc:
            typer.echo(f"gate: warning: a yield's record is dropped after a second failure (it still reads as a yield): {exc}", err=True)


def _record_refusal(kube: KubeClient, options: Options, deployment: dict | None, problem: str) -> None:
    """An Event on the server Deployment saying the settings file was refused (best effort)."""
    try:
        target = deployment or kube.get_deployment(options.settings.namespace, options.settings.deployment)
        kube.record_event(target, "ConfigRefused", f"settings file refused: {problem}", warning=True)
    except KubeError as exc:
        typer.echo(f"gate: warning: the settings were refused but the Event was not recorded: {exc}", err=True)


@contextmanager
def decide_within(options: Options, command: str, seconds: float, exit_now: Callable[[int], None]) -> Iterator[None]:
    """A one-shot command (a CronJob's) that has not decided within `seconds`: the guard and
    down give the card back through their own API client, preflight takes nothing; then the
    process ends with status 3 (blind), before the Job's activeDeadlineSeconds kills it."""
    if seconds <= 0:
        yield
        return
    stop = threading.Event()

    def expire() -> None:
        if stop.wait(seconds):
            return
        why = f"no decision within {format_duration(seconds)} (GATE_DEADLINE)"
        if command in ("guard", "down"):
            # No record: the run is over now, and an unrecorded yield still reads as one.
            watchdog_for(options, seconds).step_in(why, record=False)
        else:
            typer.echo(f"gate: {command}: not taking the card: {why}", err=True)
        exit_now(3)

    timer = threading.Thread(target=expire, name="gate-deadline", daemon=True)
    timer.start()
    try:
        yield
    finally:
        stop.set()


def once(options: Options, command: str, deadline_seconds: float, exit_now: Callable[[int], None]) -> Outcome:
    """One run of a one-shot command (preflight, guard, down: a CronJob's), given up after
    `deadline_seconds` as `decide_within` says. down reads no metrics."""
    reads = command != "down"
    observe = observer(options.source(), options.device_source()) if reads else None
    demand = options.demand_probe() if reads else None
    kube = options.kube()
    with decide_within(options, command, deadline_seconds, exit_now):
        return cycle.cycle(
            command,
            options.settings,
            store_for(kube, options.settings),
            target_for(kube, options.settings),
            options.clock(),
            observe,
            demand,
            dry_run=options.dry_run,
        )


@dataclass(frozen=True)
class Survey:
    """What `gate status` shows: the view, the state and what preflight and guard would decide
    (none without the state); an API failure is kept to report after the view."""

    view: policy.View
    state: policy.GateState | None
    decisions: list[policy.Decision]
    ready: int | None
    demand: policy.Demand | None
    api_exc: KubeError | None

    @property
    def api_error(self) -> str | None:
        return str(self.api_exc) if self.api_exc is not None else None


def survey(options: Options) -> Survey:
    """Read, look and decide as preflight and guard would; act on nothing."""
    state, api_exc, ready = None, None, None
    try:
        deployment, state = read_state(options.kube(), options.settings)
        ready = report.ready_replicas(deployment)
    except KubeError as exc:
        api_exc = exc
    view = look_live(options.source(), options.settings, options.clock(), state, options.device_source())
    probe = options.demand_probe()
    demand = probe() if probe is not None else None
    decisions = [policy.step(cmd, view, state, options.settings, demand) for cmd in ("preflight", "guard")] if state else []
    return Survey(view, state, decisions, ready, demand, api_exc)


def _report(outcome: Outcome, previous: tuple[str, Reason] | None, options: Options, target: DeploymentTarget) -> tuple[str, Reason]:
    """Log and record an Event when the decision's reason changed; returns the new key."""
    decision = outcome.decision
    key = (decision.command, decision.reason)
    if key != previous or decision.replicas is not None:
        typer.echo(report.log_line(outcome, options.log_format), err=True)
        # One-shot commands record their own Events as they act (cycle.act); the tick, on a change.
        if outcome.command == "tick" and not outcome.dry_run and decision.reason not in _QUIET and key != previous:
            cycle.record(outcome, target, cycle.event_reason(decision))
    for warning in outcome.warnings:
        typer.echo(f"gate: warning: {warning}", err=True)
    return key


@contextmanager
def _nothing() -> Iterator[None]:
    yield None
