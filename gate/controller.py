"""`gate run`: the gate as one long-running controller.

Every interval it decides as preflight, guard and down would, from the same pure policy
(`policy.decide_tick`), and acts. It is the chart's main mechanism: it re-enters within one
interval of a cool-down's end, where a CronJob waited for the next minute plus a pod start, and
creates no pods. The CronJobs and the server pod's sidecar stay as its safety net.

- SIGTERM and SIGINT only set a flag: the iteration under way finishes (a scale-down is never
  left half done) and the loop ends with status 0.
- A failed iteration (the API) is logged and counted, not fatal: the next one tries again.
- Events and log lines come when the decision's reason changes, as Kubernetes' own event
  recorder aggregates repeats: not one per tick.
- /healthz fails once no iteration has completed for max(3 intervals, 60 s): a stuck loop gets
  the pod restarted, while a metrics thread that still answers would not.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from gate import report
from gate.kube.errors import KubeError
from gate.options import Options
from gate.policy import Reason
from gate.run import Outcome, record, run
from gate.serve import GateServer
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


def control(
    options: Options,
    interval_seconds: float,
    address: str,
    port: int,
    iterations: int = 0,
    enabled: bool = True,
    command: str = "tick",
) -> None:
    """Run `command` every interval until SIGTERM/SIGINT, or `iterations` times when not 0:
    `tick` for the controller, `guard` for the sidecar (`guard --watch`)."""
    metrics = WatchMetrics()
    liveness = Liveness(interval_seconds)
    source, device, kube, demand = options.source(), options.device_source(), options.kube(), options.demand_probe()
    previous: tuple[str, Reason] | None = None
    done = 0
    server = GateServer(metrics.registry, address, port, liveness.problem) if port else None
    with stop_on_signals() as stop, server or _nothing():
        name = "run" if command == "tick" else f"{command} --watch"
        typer.echo(f"gate: {name}: every {format_duration(interval_seconds)}{'' if enabled else ', PAUSED'}", err=True)
        while not stop.is_set():
            started = time.monotonic()
            try:
                outcome = run(
                    command,
                    options.settings,
                    source,
                    kube,
                    options.clock(),
                    dry_run=options.dry_run,
                    device=device,
                    demand=demand,
                    enabled=enabled,
                )
            except KubeError as exc:
                metrics.record_api_error(type(exc).__name__)
                typer.echo(f"gate: {exc}", err=True)
            else:
                metrics.record(outcome, options.settings, time.time())
                liveness.succeeded()
                previous = _report(outcome, previous, options, kube)
            done += 1
            if iterations and done >= iterations:
                break
            stop.wait(max(0.0, interval_seconds - (time.monotonic() - started)))
    typer.echo(f"gate: {name} stopped", err=True)


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
