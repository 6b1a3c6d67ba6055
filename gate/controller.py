"""`gate run`: the gate as one long-running controller.

Every interval it decides as preflight, guard and down would, from the same pure policy
(`policy.decide_tick`), and acts. It is the chart's main mechanism: it re-enters within one
interval of a cool-down's end, where a CronJob waited for the next minute plus a pod start, and
creates no pods. The CronJobs and the server pod's sidecar stay as its safety net.

- SIGTERM and SIGINT only set a flag: the iteration under way finishes (a scale-down is never
  left half done) and the loop ends with status 0.
- A failed iteration is logged and counted, never fatal: the API failing, the next one tries
  again; anything else (a bug, a surprise) is read as blindness, so holding the card, the card
  is given back at once, and the loop carries on.
- A watchdog beside the loop (`Watchdog`) shares nothing with its read path: holding the card,
  if no iteration has decided within 2 intervals + the timeout, it gives the card back through
  its own API client and says why. Reads cannot stall an iteration for long (every fetch has a
  deadline), but the watchdog does not depend on that.
- A yield whose state could not be written is written at the start of the next iteration.
- Events and log lines come when the decision's reason changes, as Kubernetes' own event
  recorder aggregates repeats: not one per tick.
- /healthz fails once no iteration has completed for max(3 intervals, 60 s): a stuck loop gets
  the pod restarted, while a metrics thread that still answers would not.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import typer

from gate import policy, report
from gate.kube.client import MAX_RETRY_AFTER_SECONDS, KubeClient
from gate.kube.errors import KubeError
from gate.options import Options
from gate.policy import Reason
from gate.run import Outcome, decide, look, read_all, read_state, record, run, store_for, write_pending
from gate.serve import GateServer
from gate.store import Snapshot, merge
from gate.telemetry import WatchMetrics
from gate.units import format_duration

# Steady states: a change into one of these is logged but is not an Event.
_QUIET = {Reason.HOLDING, Reason.NOT_HOLDING, Reason.ALREADY_UP, Reason.ALREADY_DOWN}


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


class Watchdog:
    """Gives the card back when the loop stops deciding while it holds it.

    It needs only an API client of its own (`kube`, never the loop's: a stuck call must not hold
    it up) and the loop's word after each iteration (`decided`). Holding is what the last
    iteration left (unknown before the first: then it is presumed, as scaling an idle server to
    0 changes nothing). It also serves the loop's own give-back after an iteration that failed
    in an unexpected way (`give_back`), and vetoes an entry still in flight after it fired.
    """

    def __init__(
        self,
        kube: KubeClient,
        options: Options,
        bound_seconds: float,
        metrics: WatchMetrics | None = None,
        on_fire: Callable[[], None] | None = None,
    ):
        self.kube = kube
        self.options = options
        self.bound = bound_seconds
        self.metrics = metrics
        self.on_fire = on_fire
        self.holding: bool | None = None
        self.last_decided = time.monotonic()
        self.fired_at = float("-inf")
        self._lock = threading.Lock()

    def decided(self, replicas_after: int | None) -> None:
        with self._lock:
            self.last_decided = time.monotonic()
            if replicas_after is not None:
                self.holding = replicas_after >= 1

    def may_enter(self, started: float) -> Callable[[], bool]:
        """For the iteration that started at `started`: False once the watchdog fired since."""
        return lambda: self.fired_at < started

    def overdue(self) -> float | None:
        """Seconds since the last decision when they exceed the bound while holding (or not
        knowing), and the watchdog has not already acted within the bound; else None."""
        now = time.monotonic()
        with self._lock:
            silent = now - self.last_decided
            if self.holding is False or silent <= self.bound or now - self.fired_at <= self.bound:
                return None
            return silent

    def check(self) -> bool:
        silent = self.overdue()
        if silent is None:
            return False
        self.give_back(f"no decision for {format_duration(silent)} (bound {format_duration(self.bound)})")
        return True

    def give_back(self, why: str, record: bool = True) -> bool:
        """Scale to 0 (the only call that matters), then, with `record`, write the yield and an
        Event, best effort (unrecorded, the state still reads as a yield). True once the card is back."""
        self.fired_at = time.monotonic()
        options = self.options
        settings = options.settings
        message = f"watchdog: yielding the card: {why}"
        typer.echo(f"gate: {message}", err=True)
        if self.metrics is not None:
            self.metrics.watchdog_yields.inc()
        if options.dry_run:
            return False
        try:
            self.kube.scale(settings.namespace, settings.deployment, 0)
        except KubeError as exc:
            typer.echo(f"gate: watchdog: could not give the card back: {exc}", err=True)
            self.fired_at = float("-inf")  # try again at the next check
            return False
        with self._lock:
            self.holding = False
        if self.on_fire is not None:
            self.on_fire()
        if not record:
            return True
        try:
            deployment, _, snapshot = read_all(self.kube, settings)
            merge(store_for(self.kube, settings), snapshot, _yield_record(snapshot, settings, options.clock()))
            self.kube.record_event(deployment, "YieldWatchdog", message, warning=True)
        except KubeError as exc:
            typer.echo(f"gate: watchdog: the card is back; its record is not ({exc}): it still reads as a yield", err=True)
        return True

    def watch(self, stop: threading.Event) -> None:
        """The thread's body: check a few times per bound until `stop`."""
        step = max(0.05, min(1.0, self.bound / 4))
        while not stop.wait(step):
            try:
                self.check()
            except Exception as exc:  # the watchdog itself must never die
                typer.echo(f"gate: watchdog: {type(exc).__name__}: {exc}", err=True)


def _yield_record(snapshot: Snapshot, settings: policy.Settings, now: datetime) -> dict[str, str | None]:
    """A yield's state changes: what the gate's own yields write (see policy.decide_guard)."""
    return policy.yield_changes(policy.GateState.from_annotations(1, snapshot.annotations), settings, now)


def watchdog_bound(interval_seconds: float, timeout_seconds: float) -> float:
    """How long the loop may go without deciding while it holds the card: two intervals (one
    missed tick is not an outage) plus one call's timeout."""
    return 2 * interval_seconds + timeout_seconds


def control(
    options: Options,
    interval_key: str,
    address: str,
    port: int,
    iterations: int = 0,
    command: str = "tick",
) -> Options:
    """Run `command` every interval until SIGTERM/SIGINT, or `iterations` times when not 0:
    `tick` for the controller, `guard` for the sidecar (`guard --watch`). `interval_key` is the
    loop's interval in the settings (controller.interval, sidecar.interval).

    With a --config file, each iteration first re-reads it (`ConfigWatch`): a changed file that
    passes is used from this iteration on; one that does not is refused with one log line, an
    Event and gate_config_valid 0, and the last good settings stay. A file refused from the
    start leaves the loop blind (holding, it gives the card back) until one passes. A reload
    never acts by itself, and never raises. Returns the options in use at the end (`refused`:
    still blind)."""
    interval_seconds = options.parsed[interval_key]
    metrics = WatchMetrics()
    metrics.record_config(options.watch.applied if options.watch else None, valid=options.refused is None)
    liveness = Liveness(interval_seconds)
    source, device, kube, demand = options.source(), options.device_source(), options.kube(), options.demand_probe()
    watchdog = Watchdog(options.kube(), options, watchdog_bound(interval_seconds, options.timeout_seconds), metrics)
    if command == "guard":
        watchdog.holding = True  # the sidecar lives in the server's pod: it exists while the card is held
    previous: tuple[str, Reason] | None = None
    unwritten: tuple[Snapshot, dict[str, str | None]] | None = None
    deployment: dict | None = None  # as the last iteration read it, for Events about the settings
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
            reloaded = _reload(options, name, kube, deployment, metrics)
            if reloaded is not None:
                options = reloaded
                source, device, demand = options.source(), options.device_source(), options.demand_probe()
                interval_seconds = options.parsed[interval_key]
                liveness.limit = Liveness(interval_seconds).limit
                watchdog.options = options
                watchdog.bound = watchdog_bound(interval_seconds, options.timeout_seconds)
            try:
                if unwritten is not None and not options.dry_run:
                    write_pending(kube, options.settings, *unwritten)
                    unwritten = None
                outcome = run(
                    command,
                    options.settings,
                    source,
                    kube,
                    options.clock(),
                    dry_run=options.dry_run,
                    device=device,
                    demand=demand,
                    may_enter=watchdog.may_enter(started),
                )
            except KubeError as exc:
                metrics.record_api_error(type(exc).__name__)
                typer.echo(f"gate: {exc}", err=True)
            except Exception as exc:  # a surprise: blind, so holding the card, give it back; carry on
                metrics.record_iteration_error(type(exc).__name__)
                watchdog.give_back(f"the iteration failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
            else:
                if outcome.unwritten is not None:
                    unwritten = (outcome.snapshot, dict(outcome.unwritten))
                deployment = outcome.deployment
                watchdog.decided(outcome.replicas_after)
                metrics.record(outcome, options.settings, time.time())
                liveness.succeeded()
                previous = _report(outcome, previous, options, kube)
            done += 1
            if iterations and done >= iterations:
                break
            stop.wait(max(0.0, interval_seconds - (time.monotonic() - started)))
        stop.set()
        # A give-back in flight finishes before the process ends: one API call, with its retry.
        dog.join(timeout=2 * options.timeout_seconds + MAX_RETRY_AFTER_SECONDS)
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
        metrics.record_config(watch.applied, valid=False)
        _record_refusal(kube, options, deployment, reload.problem or "")
    except Exception as exc:
        typer.echo(f"gate: {name}: the settings reload failed, keeping what is in use: {type(exc).__name__}: {str(exc)[:200]}", err=True)
    return None


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
            Watchdog(options.kube(), options, seconds).give_back(why, record=False)
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
    source = options.source() if reads else None
    device = options.device_source() if reads else None
    demand = options.demand_probe() if reads else None
    with decide_within(options, command, deadline_seconds, exit_now):
        return run(
            command, options.settings, source, options.kube(), options.clock(), dry_run=options.dry_run, device=device, demand=demand
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
    view = look(options.source(), options.settings, options.clock(), state, options.device_source())
    probe = options.demand_probe()
    demand = probe() if probe is not None else None
    decisions = [decide(cmd, view, state, options.settings, demand) for cmd in ("preflight", "guard")] if state else []
    return Survey(view, state, decisions, ready, demand, api_exc)


def _report(outcome: Outcome, previous: tuple[str, Reason] | None, options: Options, kube) -> tuple[str, Reason]:
    """Log and record an Event when the decision's reason changed; returns the new key."""
    decision = outcome.decision
    key = (decision.command, decision.reason)
    if key != previous or decision.replicas is not None:
        typer.echo(report.log_line(outcome, options.log_format), err=True)
        # One-shot commands record their own Events as they act (run.apply); the tick, on a change.
        if outcome.command == "tick" and not outcome.dry_run and decision.reason not in _QUIET and key != previous:
            record(kube, outcome.deployment, decision, outcome)
    for warning in outcome.warnings:
        typer.echo(f"gate: warning: {warning}", err=True)
    return key


@contextmanager
def _nothing() -> Iterator[None]:
    yield None
