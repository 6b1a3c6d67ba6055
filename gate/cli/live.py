"""The one-shot live commands, as the CronJobs run them: preflight and down (guard is with the
loops: one command, one shot or `--watch`)."""

from __future__ import annotations

import os

import typer

from gate import defaults, report
from gate.cli.command import echo_json, fail, gate_command, refused_line
from gate.cli.options import ACTS, CARD, CLUSTER, Deadline
from gate.cycle import Outcome
from gate.options import Options
from gate.status import ExitStatus
from gate.units import InvalidValue, parse_duration


def deadline_seconds(deadline: str) -> float:
    seconds = parse_duration(deadline)
    if seconds < 0:
        raise InvalidValue(f"invalid deadline {deadline!r}: expected a duration, or 0 for none")
    return seconds


def finish(outcome: Outcome, options: Options) -> None:
    """One output per run, on stdout: the report, as text or JSON. Warnings, and the one line
    that names why a run failed, on stderr."""
    for warning in outcome.warnings:
        typer.echo(f"gate: warning: {warning}", err=True)
    if options.output == "json":
        echo_json(report.outcome_dict(outcome, options.settings))
    else:
        typer.echo(report.outcome_text(outcome))
    if options.refused is not None:  # the one line says the file was refused, whatever the run did
        fail(refused_line(options, f"{outcome.command} ran {'blind ' if outcome.view is not None else ''}"), ExitStatus.USAGE)
    if outcome.view is not None and outcome.view.blind:
        fail(f"blind: {outcome.view.blind_reason}", ExitStatus.METRICS)  # the one line that says why


def run_once(command: str, options: Options, deadline: str) -> None:
    from gate.controller import once

    finish(once(options, command, deadline_seconds(deadline), os._exit), options)


@gate_command(CLUSTER, CARD, ACTS, {"output"})
def preflight(options: Options, deadline: Deadline = defaults.ONE_SHOT_DEADLINE) -> None:
    """Take the card (scale to 1) if it is inside the window, the card has room and no cool-down is running.

    A no-op when already at 1 or more replicas. Refusals are recorded as Events on the Deployment.
    """
    run_once("preflight", options, deadline)


@gate_command(CLUSTER, ACTS, {"output"}, needs_total=False, gives_back=True)
def down(options: Options, deadline: Deadline = defaults.ONE_SHOT_DEADLINE) -> None:
    """Give the card back (scale to 0) unconditionally: the window's end. Needs no metrics, and no
    settings file: a refused one is exit 2 after the card is back."""
    run_once("down", options, deadline)
