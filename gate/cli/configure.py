"""The gate's settings and its switches: `check-config` (a settings document, offline),
`pause`/`resume` (the Lease's pause annotation) and `try` (the Lease's try: the window open now)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import typer

from gate import policy
from gate import settings as gate_settings
from gate.cli.command import echo_json, fail, gate_command, given_settings, refused_line, run_reporting_errors, with_settings
from gate.cli.options import ACTS, CLUSTER, SETTING_PARAMS, ConfigFile, Output, Seal, TryEnd, TryFor
from gate.kube.errors import KubeNotFound
from gate.live import lease_name, store_for, write_state
from gate.options import Options, choice
from gate.status import ExitStatus
from gate.units import InvalidValue, format_duration, format_instant, parse_duration

# `gate try`'s length unless told: the entry margin (5m: a start, ~45 s, and a model load, ~60 s,
# with room to spare) leaves 10 minutes in which the card may be taken, and a card taken at once
# serves for ~13 minutes after its start: `helm test` (Helm's 5 minutes, the synthesis 4 of them)
# and a few requests by hand, each seconds long on a T4.
TRY_DEFAULT = "15m"


@gate_command(CLUSTER, ACTS, {"output"}, needs_total=False, gives_back=True)
def pause(options: Options) -> None:
    """Pause the gate from the cluster: set tts.gate/paused "true" on the Lease of the Deployment
    it names (refused when that Deployment does not exist). The controller and the sidecar give
    the card back within one interval and nothing takes it until `gate resume` (as `enabled:
    false` in the settings does, without touching the chart). A refused settings file does not
    stop it (exit 2 after the switch is set)."""
    switch(options, paused=True)
    if options.refused is not None:
        fail(refused_line(options, "the pause was set"), ExitStatus.USAGE)


@gate_command(CLUSTER, ACTS, {"output"}, needs_total=False)
def resume(options: Options) -> None:
    """Clear the Lease's pause switch (tts.gate/paused); `enabled: false` in the settings still pauses."""
    switch(options, paused=False)


def namespace_origin(options: Options) -> str:
    """Where the namespace came from, as far as the options tell: a pause in the wrong namespace
    is the mistake this names."""
    cluster, namespace = options.cluster, options.settings.namespace
    assert cluster is not None
    if cluster.namespace == namespace:
        return f"from the {cluster.origin}"
    if cluster.namespace is None and namespace == "default":
        return f"the fallback: no --namespace, and the {cluster.origin} names none"
    return "from --namespace"


def require_deployment(options: Options, nothing: str) -> None:
    """Refuse, in one line, to write the Lease of a Deployment that is not there (a Lease nobody
    reads): `nothing` says what was not done."""
    settings = options.settings
    try:
        options.kube().get_deployment(settings.namespace, settings.deployment)
    except KubeNotFound:
        fail(
            f"{nothing}: no Deployment {settings.deployment} in namespace {settings.namespace} ({namespace_origin(options)}); "
            "name the release's namespace with --namespace and its server Deployment with --deployment",
            ExitStatus.API_NOT_FOUND,
        )


def lease_target(settings: policy.Settings) -> tuple[str, dict[str, str]]:
    """The Lease a pause or a try is written on, and its Deployment: as a sentence says them, and
    as the JSON output names them."""
    namespace, deployment, lease = settings.namespace, settings.deployment, lease_name(settings)
    where = f"Lease {namespace}/{lease} (Deployment {namespace}/{deployment})"
    return where, {"namespace": namespace, "deployment": deployment, "lease": lease}


def echo_lease_change(options: Options, change: dict[str, Any], target: dict[str, str], found: str | None, paused_by: list[str]) -> None:
    """The JSON answer of the commands that write the Lease (pause, resume, try): the change, the
    Lease and its Deployment (`lease_target`), what the Lease held before, what pauses the gate still."""
    echo_json({**change, **target, "found": found, "paused_by": paused_by, "dry_run": options.dry_run})


def switch(options: Options, paused: bool) -> None:
    """Set or clear the switch on the Lease of a Deployment that exists; say what was found,
    what changed, and where."""
    settings, kube = options.settings, options.kube()
    verb = "paused" if paused else "resumed"
    require_deployment(options, f"nothing {verb}")
    found = store_for(kube, settings).read().annotations.get(policy.PAUSED)
    was = policy.read_switch(found)  # None: unreadable, which pauses until rewritten
    changed = was is not paused
    if changed:
        write_state(kube, settings, {policy.PAUSED: "true" if paused else None}, dry_run=options.dry_run)
    still = list(policy.paused_by(None, settings))
    where, target = lease_target(settings)
    if options.output == "json":
        echo_lease_change(options, {"paused": paused or bool(still), "changed": changed}, target, found, still)
        return
    prefix = "[dry run] " if options.dry_run else ""
    if not changed:
        shown = f"{policy.PAUSED}={found}" if found is not None else f"no {policy.PAUSED}"
        typer.echo(f"{prefix}already {verb}: {where} has {shown}; nothing changed")
        return
    before = f" (it read {found!r}, which is neither on nor off and paused)" if was is None else ""
    if paused:
        typer.echo(
            f"{prefix}paused: {where} now has {policy.PAUSED}=true{before}; the controller and the sidecar give "
            "the card back within one interval, and nothing takes it until `gate resume`"
        )
    else:
        tail = f"; still paused by {still[0]}" if still else "; the gate decides again from its next run"
        typer.echo(f"{prefix}resumed: {policy.PAUSED} removed from {where}{before}{tail}")


@gate_command(CLUSTER, ACTS, {"output"}, needs_total=False)
def try_window(options: Options, duration: TryFor = None, end: TryEnd = False) -> None:
    """Hold the window open now, for a first synthesis on install day: set tts.gate/try-until
    (--for from now, 15m unless told, at most 1h) on the Lease of the Deployment it names. Until
    then preflight and the controller may take the card at any hour, with room and under every
    other rule (a pause wins); at its end the controller and the sidecar give the card back as at
    the window's end. It takes nothing itself. --end removes the try."""
    settings = options.settings
    if end and duration is not None:
        raise InvalidValue(f"--end and --for {duration!r} contradict each other: --end removes the try, --for sets one")
    seconds = None if end else try_seconds(duration or TRY_DEFAULT, settings.entry_margin_seconds)
    require_deployment(options, "nothing ended" if end else "no try set")
    kube, now = options.kube(), options.clock()
    annotations = store_for(kube, settings).read().annotations
    found = annotations.get(policy.TRY_UNTIL)
    until = format_instant(now + timedelta(seconds=seconds)) if seconds is not None else None
    changed = found != until
    if changed:
        write_state(kube, settings, {policy.TRY_UNTIL: until}, dry_run=options.dry_run)
    paused = list(policy.paused_by(policy.GateState.from_annotations(0, annotations), settings))
    where, target = lease_target(settings)
    if options.output == "json":
        echo_lease_change(options, {"try_until": until, "changed": changed}, target, found, paused)
        return
    prefix = "[dry run] " if options.dry_run else ""
    was = _try_found(found, now)
    if until is None:
        if not changed:
            typer.echo(f"{prefix}already ended: {where} has no {policy.TRY_UNTIL}; nothing changed")
            return
        typer.echo(
            f"{prefix}ended: {policy.TRY_UNTIL} removed from {where} ({was}); outside the window the controller and the "
            "sidecar give the card back within one interval"
        )
        return
    assert seconds is not None
    local = (now + timedelta(seconds=seconds)).astimezone(settings.window.tz if settings.window else None)
    last = format_instant(now + timedelta(seconds=seconds - settings.entry_margin_seconds))
    before = f" (it replaces one that {was})" if found is not None else ""
    blocked = f"; but the gate is paused by {' and by '.join(paused)}: a pause wins, nothing takes the card" if paused else ""
    typer.echo(
        f"{prefix}trying: {where} now has {policy.TRY_UNTIL}={until} ({format_duration(seconds)} from now, "
        f"{local:%H:%M %Z}){before}; until then the window counts as open: the controller takes the card within one "
        f"interval once it has room (until {last}, the entry margin before the end) and gives it back at the end; "
        f"gate try --end ends it sooner{blocked}"
    )


def try_seconds(text: str, entry_margin_seconds: float) -> float:
    """--for as seconds: longer than the entry margin (no entry in the try's last minutes: a
    shorter try could never take the card), and no longer than a try may last."""
    seconds = parse_duration(text)
    if not entry_margin_seconds < seconds <= policy.TRY_LONGEST_SECONDS:
        raise InvalidValue(
            f"invalid --for {text!r}: expected more than the entry margin ({format_duration(entry_margin_seconds)}: no entry "
            f"in a try's last minutes) and at most {format_duration(policy.TRY_LONGEST_SECONDS)}, e.g. {TRY_DEFAULT}"
        )
    return seconds


def _try_found(found: str | None, now: datetime) -> str:
    """What the Lease's try was before this command: in words, for its report."""
    state = policy.GateState.from_annotations(0, {} if found is None else {policy.TRY_UNTIL: found})
    trying, ignored = policy.open_try(state, now)
    if ignored is not None:
        return f"was ignored: {ignored}"
    if trying is not None:
        return f"was to run until {format_instant(trying)}"
    return f"had ended at {found}"


def check_config(ctx: typer.Context, path: ConfigFile, output: Output = "text", seal: Seal = False, **given: Any) -> None:
    """Validate a settings document offline, as `promtool check config` does, and print the
    effective settings with where each came from (default, file, variable, flag). Exit 2 on a
    bad file, naming every problem; nothing is contacted. With --seal, a hand-written document
    that passes is sealed (its header added when missing, its seal written last) in place, or
    on stdout for -."""

    def body() -> None:
        output_format = choice(output, gate_settings.Format, "output format")
        if seal:
            sealed(path)
            return
        document = gate_settings.load(path)
        names = {s.param: s.key for s in gate_settings.SHARED}
        flags = gate_settings.parse_values(given_settings(ctx, names, given))
        settled = gate_settings.settle(document.given, flags, path=document.path)
        rows = [(key, settled.raw[key], settled.origins[key].value) for key in gate_settings.BY_KEY]
        if output_format == "json":
            echo_json({"file": document.path, "hash": document.hash, "settings": [{"key": k, "value": v, "from": o} for k, v, o in rows]})
            return
        width = max(len(k) for k, _, _ in rows)
        typer.echo(f"{document.path}: valid (hash {document.hash})")
        for key, value, origin in rows:
            shown = json.dumps(value) if value == "" or isinstance(value, bool) else str(value)
            typer.echo(f"{key:<{width}}  {shown}  ({origin})")

    run_reporting_errors(body, False)


def sealed(path: str) -> None:
    if path == "-":
        text = gate_settings.decode(gate_settings.read_stdin(gate_settings.MAX_BYTES), "-")
        typer.echo(gate_settings.seal(text), nl=False)
        return
    document = gate_settings.seal_file(path)
    typer.echo(f"{path}: sealed (hash {document.hash})")


with_settings(check_config, tuple(SETTING_PARAMS))
