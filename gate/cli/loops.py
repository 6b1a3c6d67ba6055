"""The long-running commands: `run` (the controller) and `guard` (one shot, or `--watch`: the
server pod's sidecar)."""

from __future__ import annotations

from gate import defaults
from gate import settings as gate_settings
from gate.cli.command import fail, gate_command, refused_line
from gate.cli.live import run_once
from gate.cli.options import (
    ACTS,
    CARD,
    CLUSTER,
    ControllerInterval,
    ControlTokenFile,
    ControlUrl,
    Deadline,
    Iterations,
    MetricsAddress,
    MetricsPort,
    SidecarInterval,
    WatchOpt,
)
from gate.options import Options
from gate.status import ExitStatus
from gate.units import InvalidValue


def loop(
    options: Options,
    command: str,
    interval_key: str,
    metrics_port: int,
    metrics_address: str,
    iterations: int,
    control_url: str | None = None,
    control_token_file: str = defaults.CONTROL_TOKEN_FILE,
) -> None:
    if not 0 <= metrics_port <= 65535:
        raise InvalidValue(f"invalid metrics port {metrics_port}: expected 0-65535")
    if iterations < 0:
        raise InvalidValue(f"invalid iterations {iterations}: expected 0 or more")
    from gate.controller import ControlPort, control

    port = ControlPort.parse(control_url, control_token_file) if control_url else None
    final = control(options, interval_key, metrics_address, metrics_port, iterations=iterations, command=command, control_port=port)
    if final.refused is not None:  # it ran blind to the end: its status says the file was refused
        fail(refused_line(final, "the loop ran blind"), ExitStatus.USAGE)


@gate_command(CLUSTER, CARD, ACTS, {"output", "log_format"}, own_settings={"interval": "sidecar.interval"}, gives_back=True)
def guard(
    options: Options,
    watch: WatchOpt = False,
    interval: SidecarInterval = gate_settings.BY_KEY["sidecar.interval"].default,  # type: ignore[assignment]
    metrics_port: MetricsPort = defaults.METRICS_PORT,
    metrics_address: MetricsAddress = "0.0.0.0",
    iterations: Iterations = 0,
    deadline: Deadline = defaults.ONE_SHOT_DEADLINE,
    control_url: ControlUrl = None,
    control_token_file: ControlTokenFile = defaults.CONTROL_TOKEN_FILE,
) -> None:
    """Holding the card, give it back (scale to 0) when it has no room, the metrics are blind, the window ended or the gate is paused.

    With --watch and park.enabled, a wake the card can hold the parked residue for parks the
    server (--control-url) instead; a one-shot guard (a CronJob's) never parks.
    A refused settings file is blindness: guard gives the card back all the same, and exits 2."""
    if not watch:
        run_once("guard", options, deadline)
        return
    loop(options, "guard", "sidecar.interval", metrics_port, metrics_address, iterations, control_url, control_token_file)


@gate_command(CLUSTER, CARD, ACTS, {"log_format"}, own_settings={"interval": "controller.interval"}, gives_back=True)
def run_controller(
    options: Options,
    interval: ControllerInterval = gate_settings.BY_KEY["controller.interval"].default,  # type: ignore[assignment]
    metrics_port: MetricsPort = defaults.METRICS_PORT,
    metrics_address: MetricsAddress = "0.0.0.0",
    iterations: Iterations = 0,
    control_url: ControlUrl = None,
    control_token_file: ControlTokenFile = defaults.CONTROL_TOKEN_FILE,
) -> None:
    """The controller: every interval, decide as preflight, guard and down would, and act, until
    SIGTERM. Serves /metrics and /healthz (fails once the loop stops completing iterations).
    With park.enabled and --control-url it parks the server on a wake and unparks it with room.
    Paused (--disabled, `enabled: false`, or `gate pause`), every tick gives the card back and none takes it.
    A settings file refused at start leaves it blind (it gives the card back) until the file passes."""
    loop(options, "tick", "controller.interval", metrics_port, metrics_address, iterations, control_url, control_token_file)
