"""`gate guard --watch`: the sidecar that gives the card back within seconds.

Each iteration is one `guard` run. SIGTERM (the pod being stopped, often by our own yield) and
SIGINT only set a flag: the iteration under way finishes, so a scale-down is never left half
done, and the loop ends with status 0. A failed iteration is logged and counted, not fatal: the
next one tries again, and a blind one has already yielded.
"""

from __future__ import annotations

import signal
import threading
import time

import typer
from prometheus_client import start_http_server

from gate import report
from gate.kube.errors import KubeError
from gate.options import Options
from gate.run import run
from gate.telemetry import WatchMetrics
from gate.units import InvalidValue


def watch_guard(options: Options, interval_seconds: float, address: str, port: int, iterations: int = 0) -> None:
    """Guard every `interval_seconds` until SIGTERM/SIGINT, or `iterations` checks when not 0."""
    stop = threading.Event()
    done = 0
    metrics = WatchMetrics()
    if port:
        try:
            start_http_server(port, addr=address, registry=metrics.registry)
        except OSError as exc:
            raise InvalidValue(f"cannot serve metrics on {address}:{port}: {exc.strerror}") from exc
    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals reach only the main thread
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    source, device, kube = options.source(), options.device_source(), options.kube()
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                outcome = run("guard", options.settings, source, kube, options.clock(), dry_run=options.dry_run, device=device)
            except KubeError as exc:
                metrics.record_api_error(type(exc).__name__)
                typer.echo(f"gate: {exc}", err=True)
            else:
                metrics.record(outcome, options.settings, time.time())
                typer.echo(report.log_line(outcome, options.log_format), err=True)
                for warning in outcome.warnings:
                    typer.echo(f"gate: warning: {warning}", err=True)
            done += 1
            if iterations and done >= iterations:
                break
            stop.wait(max(0.0, interval_seconds - (time.monotonic() - started)))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    typer.echo("gate: guard --watch stopped", err=True)
