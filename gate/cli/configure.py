"""The gate's settings and its switch: `check-config` (a settings document, offline) and
`pause`/`resume` (the Lease's pause annotation)."""

from __future__ import annotations

import json
from typing import Any

import typer

from gate import policy
from gate import settings as gate_settings
from gate.cli.command import echo_json, fail, gate_command, given_settings, refused_line, run_reporting_errors, with_settings
from gate.cli.options import ACTS, CLUSTER, SETTING_PARAMS, ConfigFile, Output, Seal
from gate.kube.errors import KubeNotFound
from gate.live import lease_name, store_for, write_state
from gate.options import Options, choice
from gate.status import ExitStatus


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


def switch(options: Options, paused: bool) -> None:
    """Set or clear the switch on the Lease of a Deployment that exists; say what was found,
    what changed, and where."""
    settings, kube = options.settings, options.kube()
    namespace, deployment, lease = settings.namespace, settings.deployment, lease_name(settings)
    verb = "paused" if paused else "resumed"
    try:
        kube.get_deployment(namespace, deployment)
    except KubeNotFound:
        fail(
            f"nothing {verb}: no Deployment {deployment} in namespace {namespace} ({namespace_origin(options)}); "
            "name the release's namespace with --namespace and its server Deployment with --deployment",
            ExitStatus.API_NOT_FOUND,
        )
    found = store_for(kube, settings).read().annotations.get(policy.PAUSED)
    was = policy.read_switch(found)  # None: unreadable, which pauses until rewritten
    changed = was is not paused
    if changed:
        write_state(kube, settings, {policy.PAUSED: "true" if paused else None}, dry_run=options.dry_run)
    still = list(policy.paused_by(None, settings))
    where = f"Lease {namespace}/{lease} (Deployment {namespace}/{deployment})"
    if options.output == "json":
        echo_json(
            {
                "paused": paused or bool(still),
                "changed": changed,
                "namespace": namespace,
                "deployment": deployment,
                "lease": lease,
                "found": found,
                "paused_by": still,
                "dry_run": options.dry_run,
            }
        )
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
