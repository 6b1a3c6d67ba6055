"""What the commands print: the report on stdout (text or JSON) and one log line per run."""

from __future__ import annotations

import json
from typing import Any

from gate.cycle import Outcome, parked_after
from gate.policy import Decision, Demand, GateState, Settings, View, budget_bytes, cooldown, park_cooldown, paused_by
from gate.replay.ledger import NightSummary
from gate.units import format_duration, format_instant, format_size


def settings_dict(settings: Settings) -> dict[str, Any]:
    return {
        "namespace": settings.namespace,
        "deployment": settings.deployment,
        "floor_bytes": settings.floor_bytes,
        "total_bytes_configured": settings.total_bytes,
        "window": str(settings.window) if settings.window else None,
        "cooldown_seconds": settings.cooldown_seconds,
        "cooldown_max_seconds": settings.cooldown_max_seconds,
        "budget_bytes": budget_bytes(settings.floor_bytes),
        "enabled": settings.enabled,
    }


def view_dict(view: View) -> dict[str, Any]:
    return {
        "time": format_instant(view.now),
        "in_window": view.in_window,
        "try_until": format_instant(view.try_until) if view.try_until else None,
        "try_ignored": view.try_ignored,
        "blind": view.blind_reason,
        "total_bytes": view.total_bytes,
        "resident_bytes": None if view.blind else view.resident_bytes,
        "own_bytes": None if view.blind else view.own_bytes,
        "presumed_own_bytes": None if view.blind else view.presumed_own_bytes,
        "unattributed_bytes": None if view.blind else view.unattributed_bytes,
        "free_bytes": view.free_bytes,
        "residents": [{"namespace": p.namespace, "pod": p.pod, "used_bytes": p.used_bytes} for p in view.residents],
        "own": [{"namespace": p.namespace, "pod": p.pod, "used_bytes": p.used_bytes} for p in view.own],
    }


def state_dict(state: GateState) -> dict[str, Any]:
    return {
        "replicas": state.replicas,
        "yielded_at": format_instant(state.yielded_at) if state.yielded_at else None,
        "room_since": format_instant(state.room_since) if state.room_since else None,
        "entered_at": format_instant(state.entered_at) if state.entered_at else None,
        "entry_unattributed_bytes": state.entry_unattributed_bytes,
        "yield_streak": state.yield_streak,
        "over_budget_yields": state.over_budget_yields,
        "over_budget_at": format_instant(state.over_budget_at) if state.over_budget_at else None,
        "paused": state.paused,
        "parked": state.parked,
        "parked_at": format_instant(state.parked_at) if state.parked and state.parked_at else None,
        "parks_tonight": state.parks,
        "unparks_tonight": state.unparks,
        "park_failures_tonight": state.park_failures,
        "parked_seconds_tonight": state.parked_seconds,
        "last_park_seconds": state.last_park_seconds,
        "last_unpark_seconds": state.last_unpark_seconds,
        "try_until": format_instant(state.try_until) if state.try_until else state.try_unreadable,
    }


def decision_dict(decision: Decision) -> dict[str, Any]:
    return {
        "command": decision.command,
        "reason": decision.reason.value,
        "message": decision.message,
        "replicas": decision.replicas,
        "park": decision.park,
        "annotations": dict(decision.annotations),
    }


def outcome_dict(outcome: Outcome, settings: Settings) -> dict[str, Any]:
    return {
        "time": format_instant(outcome.now),
        "command": outcome.command,
        "dry_run": outcome.dry_run,
        "applied": outcome.applied,
        "replicas_before": outcome.state.replicas,
        "replicas_after": outcome.replicas_after if not outcome.dry_run else outcome.state.replicas,
        "demand": demand_dict(outcome.demand),
        "decision": decision_dict(outcome.decision),
        "state": state_dict(outcome.state),
        "view": view_dict(outcome.view) if outcome.view else None,
        "settings": settings_dict(settings),
        "park": park_dict(outcome),
        "warnings": outcome.warnings,
    }


def park_dict(outcome: Outcome) -> dict[str, Any] | None:
    """The park or unpark this run asked, and the parked server's own state as read."""
    call, server = outcome.park_call, outcome.server
    if call is None and server is None:
        return None
    return {
        "op": call.op if call else None,
        "seconds": call.seconds if call else None,
        "problem": call.problem if call else None,
        "already": call.already if call else None,
        "server_state": server.phase if server else None,
        "server_problem": server.problem if server else None,
    }


def outcome_text(outcome: Outcome) -> str:
    decision = outcome.decision
    change = ""
    if decision.replicas is not None:
        verb = "would scale" if outcome.dry_run else "scaled"
        change = f" ({verb} {outcome.state.replicas} -> {decision.replicas})"
    elif decision.park is not None:
        call = outcome.park_call
        done = f"{decision.park}ed in {call.seconds:.1f}s" if call is not None and call.seconds is not None else decision.park
        change = f" (would {decision.park})" if outcome.dry_run else f" ({done})"
    prefix = "[dry run] " if outcome.dry_run else ""
    return f"{format_instant(outcome.now)} {prefix}{outcome.command}: {decision.reason.value}{change}: {decision.message}"


def log_line(outcome: Outcome, log_format: str) -> str:
    """One structured line per run, for the CronJob's log."""
    view = outcome.view
    fields: dict[str, Any] = {
        "time": format_instant(outcome.now),
        "command": outcome.command,
        "reason": outcome.decision.reason.value,
        "replicas_before": outcome.state.replicas,
        "replicas_after": outcome.replicas_after,
        "dry_run": outcome.dry_run,
        "free_bytes": view.free_bytes if view else None,
        "resident_bytes": view.resident_bytes if view and not view.blind else None,
        "blind": view.blind_reason if view else None,
        "queued": outcome.demand.queued if outcome.demand is not None else None,
        "parked": parked_after(outcome) or None,
        "park": outcome.park_call.op if outcome.park_call is not None else None,
        "park_seconds": outcome.park_call.seconds if outcome.park_call is not None else None,
        "park_problem": outcome.park_call.problem if outcome.park_call is not None else None,
        "message": outcome.decision.message,
    }
    if log_format == "json":
        return json.dumps(fields, sort_keys=False)
    return " ".join(f"{key}={_logfmt(value)}" for key, value in fields.items() if value is not None)


def _logfmt(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return json.dumps(text) if (" " in text or "=" in text or '"' in text or not text) else text


def ready_replicas(deployment: dict[str, Any]) -> int:
    """The Deployment's ready pods (status.readyReplicas, absent when none is ready)."""
    return int((deployment.get("status") or {}).get("readyReplicas") or 0)


def demand_dict(demand: Demand | None) -> dict[str, Any] | None:
    return None if demand is None else {"queued": demand.queued, "problem": demand.problem}


def status_dict(
    view: View,
    state: GateState | None,
    settings: Settings,
    decisions: list[Decision],
    ready: int | None = None,
    demand: Demand | None = None,
) -> dict[str, Any]:
    return {
        "view": view_dict(view),
        "state": state_dict(state) if state else None,
        "ready_replicas": ready,
        "demand": demand_dict(demand),
        "settings": settings_dict(settings),
        "paused_by": list(paused_by(state, settings)),
        "would": {d.command: decision_dict(d) for d in decisions},
    }


def status_text(
    view: View,
    state: GateState | None,
    settings: Settings,
    decisions: list[Decision],
    api_error: str | None,
    ready: int | None = None,
    demand: Demand | None = None,
) -> str:
    rows: list[tuple[str, str]] = []
    rows.append(
        (
            "time",
            f"{format_instant(view.now)} ({view.now.astimezone(settings.window.tz if settings.window else None):%H:%M %Z} local)",
        )
    )
    inside = settings.window.contains(view.now) if settings.window else True
    rows.append(("window", f"{settings.window} ({'inside' if inside else 'outside'})" if settings.window else "none (any time)"))
    tried = _try_row(view, state)
    if tried:
        rows.append(("try", tried))
    switches = paused_by(state, settings)
    rows.append(("paused", f"yes, by {' and by '.join(switches)}" if switches else "no"))
    if demand is not None:
        rows.append(("demand", str(demand)))
    rows += _card_rows(view, settings)
    if state is not None:
        rows += _state_rows(view, state, settings, ready)
    else:
        rows.append(("replicas", f"unknown: {api_error}"))
    for decision in decisions:
        rows.append((f"{decision.command} would", f"{decision.reason.value}: {decision.message}"))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def _try_row(view: View, state: GateState | None) -> str | None:
    """`status`'s line about a try (`gate try`): in force, ignored, or over; None without one."""
    if view.try_until is not None:
        left = format_duration((view.try_until - view.now).total_seconds())
        return f"until {format_instant(view.try_until)} ({left} left): the window counts as open (gate try --end ends it)"
    if view.try_ignored is not None:
        return f"IGNORED: {view.try_ignored}; gate try or gate try --end rewrites it"
    if state is not None and state.try_until is not None:
        return f"ended at {format_instant(state.try_until)}"
    return None


def _card_rows(view: View, settings: Settings) -> list[tuple[str, str]]:
    """`status`'s lines about the card: who holds what, the floor, the server's budget."""
    rows: list[tuple[str, str]] = []
    if view.blind:
        rows.append(("metrics", f"BLIND: {view.blind_reason}"))
    else:
        rows.append(("total", format_size(view.total_bytes)))
        for pod in view.residents:
            rows.append((f"resident {pod.namespace}/{pod.pod}", format_size(pod.used_bytes)))
        if view.unattributed_bytes:
            rows.append(("resident (unattributed)", format_size(view.unattributed_bytes)))
        rows.append(("residents", format_size(view.resident_bytes)))
        for pod in view.own:
            rows.append((f"own {pod.namespace}/{pod.pod}", format_size(pod.used_bytes)))
        if view.presumed_own_bytes:
            rows.append(("own (unlabelled, starting)", format_size(view.presumed_own_bytes)))
        rows.append(("own (excluded)", format_size(view.own_bytes)))
        rows.append(("free for tts", format_size(view.free_bytes)))
    rows.append(("floor", format_size(settings.floor_bytes)))
    if not view.blind and view.own_bytes:
        rows.append(
            (
                "own vs budget",
                f"{format_size(view.own_bytes)} of {format_size(budget_bytes(settings.floor_bytes))} (the floor less the slack)",
            )
        )
    return rows


def _state_rows(view: View, state: GateState, settings: Settings, ready: int | None) -> list[tuple[str, str]]:
    """`status`'s lines about the gate's state: replicas, the entry, the cool-down, the bar."""
    # Desired beside ready: a pod that cannot start (no model, no image) shows as 1 desired, 0 ready.
    rows = [("replicas", f"{state.replicas} desired, {'?' if ready is None else ready} ready")]
    if state.entered_at:
        rows.append(("entered", format_instant(state.entered_at)))
    if state.yielded_at and not state.parked:  # parked: the park's rows say what waits
        rows.append(("last yield", format_instant(state.yielded_at)))
        streak = state.yield_streak if state.yield_streak else "unreadable"
        rows.append(("cool-down", f"{format_duration(cooldown(state, settings))} (yield streak {streak})"))
    if state.room_since and not state.parked:
        held = (view.now - state.room_since).total_seconds()
        rows.append(
            (
                "room since",
                f"{format_instant(state.room_since)} ({format_duration(held)} of {format_duration(cooldown(state, settings))})",
            )
        )
    if state.over_budget_yields and state.over_budget_at:
        rows.append(("over budget", f"{state.over_budget_yields} yield(s) tonight, last {format_instant(state.over_budget_at)}"))
    return rows + _park_rows(view, state, settings)


def _park_rows(view: View, state: GateState, settings: Settings) -> list[tuple[str, str]]:
    """`status`'s lines about parking: parked since when, tonight's parks, unparks, failures and
    parked time, the last park's and unpark's seconds."""
    rows: list[tuple[str, str]] = []
    if state.parked and state.parked_at is not None:
        parked = max(0.0, (view.now - state.parked_at).total_seconds())
        limit = f" of park.maxParked {format_duration(settings.park.max_parked_seconds)}" if settings.park else " (parking is off)"
        rows.append(("parked", f"since {format_instant(state.parked_at)} ({format_duration(parked)}{limit})"))
        if state.room_since:
            held = (view.now - state.room_since).total_seconds()
            rows.append(("room since", f"{format_duration(held)} of {format_duration(park_cooldown(settings))} before an unpark"))
    if state.parks or state.unparks or state.park_failures:
        rows.append(
            (
                "parking tonight",
                f"{state.parks} park(s), {state.unparks} unpark(s), {state.park_failures} failure(s), "
                f"parked {format_duration(state.parked_seconds)} (parks that ended)",
            )
        )
    last = [f"{op} {seconds:.1f}s" for op, seconds in (("park", state.last_park_seconds), ("unpark", state.last_unpark_seconds)) if seconds]
    if last:
        rows.append(("last park", ", ".join(last)))
    return rows


# What each column of `replay_table` means (the ledger's words: gate/replay/ledger.py).
REPLAY_COLUMNS = """  oracle    how long a perfect gate could have baked (made narration): in the window, with room
            (total - residents >= floor)
  baked     how much of that the server really held the card and baked
  util      baked / oracle: 1.000 is every free minute used
  breach    seconds the server held memory while the card had no room for it (the floor was not free)
  conflict  seconds it held memory a resident needed (residents + its peak over the card): a resident could have died
  entries, yields, wakes, outages, over budget: times it took the card, gave it back, a resident woke, the exporter
            was silent, and the server outgrew its floor
  parks     parks/unparks (--park): times it parked the server (its model to host memory) and unparked it
  parked    how long the server held only its parked residue
  outside rule  seconds it was parked while total - residents < residue + (floor - peak): the parked rule broken
  narration the audio the baked seconds made (chunk by chunk at --rtf; a chunk cut short is lost)
  unfixed   the same by the server without the hook fix, slower with every chunk its process has made"""


def replay_table(rows: list[tuple[str, NightSummary]]) -> str:
    """One line per night and policy: what `gate replay` found. Parks are parks/unparks; parked,
    the seconds the server held only its residue; outside rule, those the parked rule did not
    allow; narration, the audio the bake made (the fixed server, and the unfixed one)."""
    header = (
        "trace",
        "night",
        "policy",
        "oracle",
        "baked",
        "util",
        "breach",
        "conflict",
        "entries",
        "yields",
        "wakes",
        "outages",
        "parks",
        "parked",
        "outside rule",
        "narration",
        "unfixed",
        "over budget",
    )
    lines = [header]
    for name, n in rows:
        lines.append(
            (
                name,
                n.night,
                n.policy,
                format_duration(n.oracle_seconds),
                format_duration(n.bake_seconds),
                f"{n.utilization:.3f}",
                f"{n.breach_seconds}s",
                f"{n.conflict_seconds}s",
                str(n.entries),
                str(n.yields),
                str(n.wakes),
                str(n.outages),
                f"{n.parks}/{n.unparks}",
                format_duration(n.parked_seconds),
                f"{n.parked_outside_rule_seconds}s",
                format_duration(n.audio_seconds),
                format_duration(n.audio_seconds_unfixed),
                str(n.over_budget),
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in lines)
