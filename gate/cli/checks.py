"""The commands that look and change nothing: `status` (what the gate sees and would decide) and
`check` (what `helm test` runs)."""

from __future__ import annotations

import typer

from gate import report
from gate.cli.command import echo_json, fail, gate_command
from gate.cli.options import CARD, CLUSTER, AllowCpu, Phrase, ServerUrl, Synthesize, SynthTimeout, Voice
from gate.options import Options
from gate.status import ExitStatus, for_kube_error
from gate.units import parse_duration


@gate_command(CLUSTER, CARD, {"output"})
def status(options: Options) -> None:
    """Show what the gate sees and what each command would decide. Changes nothing."""
    from gate.controller import survey

    seen = survey(options)
    if options.output == "json":
        payload = report.status_dict(seen.view, seen.state, options.settings, seen.decisions, seen.ready, seen.demand)
        payload["api_error"] = seen.api_error
        echo_json(payload)
    else:
        typer.echo(report.status_text(seen.view, seen.state, options.settings, seen.decisions, seen.api_error, seen.ready, seen.demand))
    if seen.api_exc is not None:
        fail(str(seen.api_exc), for_kube_error(seen.api_exc))
    if seen.view.blind:
        fail(f"blind: {seen.view.blind_reason}", ExitStatus.METRICS)


@gate_command(CLUSTER, CARD, {"output"})
def check(
    options: Options,
    server_url: ServerUrl = None,
    voice: Voice = "Emily.wav",
    phrase: Phrase = "Welcome to the old town.",
    synth_timeout: SynthTimeout = "4m",
    allow_cpu: AllowCpu = False,
    synthesize: Synthesize = False,
) -> None:
    """What `helm test` runs: the metrics are readable, the gate's RBAC is complete (server-side dry
    runs), and, when the Deployment wants a replica, the server answers with its model loaded and a
    short phrase comes back as WAV audio. At 0 replicas the server is skipped, or, with
    --synthesize, the check fails (nothing can be synthesized until the gate takes the card).
    Changes nothing."""
    from gate import check as checks

    if synthesize and not server_url:
        fail("--synthesize needs --server-url (the server to synthesize on)", ExitStatus.USAGE)
    synth_seconds = parse_duration(synth_timeout) if server_url else None
    results = checks.run_checks(options, server_url, voice, phrase, synth_seconds, allow_cpu, synthesize)
    if options.output == "json":
        echo_json([{"check": r.name, "passed": r.passed, "skipped": r.skipped, "detail": r.detail} for r in results])
    else:
        for r in results:
            typer.echo(f"{'skip' if r.skipped else 'ok  ' if r.passed else 'FAIL'} {r.name}: {r.detail}")
    failed = [r for r in results if not r.passed]
    if failed:
        fail(f"check failed: {failed[0].name}: {failed[0].detail}", failed[0].status)
