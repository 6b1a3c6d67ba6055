"""`gate try` against the kube-apiserver double: it names where it acts, refuses a Deployment
that is not there (nothing written), refuses a length it cannot honour, says when nothing
changed; and every command honours the try it writes (or one written with kubectl): preflight
and the controller take the card outside the window, the guard and the controller give it back
at its end, `down` ends it, `status` and the Events say so, a pause wins."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from gatedoc import document
from typer.testing import CliRunner

from gate import policy
from gate.cli import app
from gate.cycle import Outcome
from gate.status import ExitStatus
from gate.telemetry import WatchMetrics

DAY = "2026-11-12T14:00:00Z"  # 14:00 GMT, outside the default window (02:00-06:00 Europe/London)
AFTER = "2026-11-12T14:15:00Z"  # a 15-minute try's end


def gate(env: dict[str, str], *args: str, now: str = DAY):
    return CliRunner().invoke(app, list(args), env={**env, "GATE_NOW": now}, catch_exceptions=False)


def writes(kubeapi) -> int:
    return len(kubeapi.calls("POST")) + len(kubeapi.calls("PUT"))


def decision(result) -> str:
    """The reason in a one-shot command's report line: `<time> <command>: <reason>...`."""
    return result.stdout.split()[2].rstrip(":")


def test_a_try_outside_the_window_takes_the_card_with_room_and_gives_it_back_at_its_end(env, kubeapi):
    assert decision(gate(env, "preflight")) == "out-of-window"
    tried = gate(env, "try", "--namespace", "tts")
    assert tried.exit_code == 0, tried.output
    assert tried.stdout.startswith(
        "trying: Lease tts/chatterbox-tts-gate (Deployment tts/chatterbox-tts) now has "
        "tts.gate/try-until=2026-11-12T14:15:00Z (15m00s from now, 14:15 GMT); until then the window counts as open"
    )
    assert "(until 2026-11-12T14:10:00Z, the entry margin before the end)" in tried.stdout
    assert kubeapi.state()[policy.TRY_UNTIL] == "2026-11-12T14:15:00Z"
    entered = gate(env, "preflight")
    assert (decision(entered), kubeapi.replicas()) == ("entered", 1)
    assert decision(gate(env, "guard", now="2026-11-12T14:14:59Z")) == "holding"
    ended = gate(env, "guard", now=AFTER)
    assert (decision(ended), kubeapi.replicas()) == ("out-of-window", 0)
    assert [(e["reason"], e["message"].split("; ")[-1]) for e in kubeapi.events[-2:]] == [
        ("PreflightEntered", "a try holds the window open until 2026-11-12T14:15:00Z"),
        ("YieldOutOfWindow", "the try ended at 2026-11-12T14:15:00Z"),
    ]
    assert decision(gate(env, "preflight", now=AFTER)) == "out-of-window"


def test_the_controller_takes_the_card_for_a_try_and_gives_it_back_at_its_end(env, kubeapi):
    run = ("run", "--interval", "0.02s", "--metrics-port", "0", "--iterations", "3")
    assert gate(env, "try", "--for", "20m").exit_code == 0
    first = gate(env, *run)
    assert first.exit_code == 0, first.output
    assert kubeapi.replicas() == 1
    later = gate(env, *run, now="2026-11-12T14:20:00Z")
    assert later.exit_code == 0, later.output
    assert kubeapi.replicas() == 0
    reasons = [e["reason"] for e in kubeapi.events]
    assert reasons == ["PreflightEntered", "YieldOutOfWindow", "PreflightOutOfWindow"], reasons
    assert all("the try ended at 2026-11-12T14:20:00Z" in e["message"] for e in kubeapi.events[1:])


def test_a_try_written_with_kubectl_is_the_same_try(env, kubeapi):
    """`kubectl annotate lease ... tts.gate/try-until=$(date -u -d '+15 min' +%FT%TZ)`, or with an
    offset as `date -Iseconds` writes it."""
    kubeapi.set_state({policy.TRY_UNTIL: "2026-11-12T15:15:00+01:00"})
    assert decision(gate(env, "preflight")) == "entered"
    status = gate(env, "status")
    assert "try " in status.stdout and "until 2026-11-12T14:15:00Z (15m00s left): the window counts as open" in status.stdout
    assert "02:00-06:00 Europe/London (outside)" in status.stdout
    # The way back: `kubectl annotate lease chatterbox-tts-gate tts.gate/try-until-`.
    kubeapi.set_state({})
    assert decision(gate(env, "guard")) == "out-of-window" and kubeapi.replicas() == 0


def test_a_missing_deployment_is_refused_and_nothing_is_written(env, kubeapi, tmp_path):
    elsewhere = {**env, "KUBECONFIG": kubeapi.kubeconfig(tmp_path / "default", namespace="default")}
    for args, nothing in ((["try"], "no try set"), (["try", "--end"], "nothing ended")):
        result = gate(elsewhere, *args)
        assert result.exit_code == ExitStatus.API_NOT_FOUND, result.output
        assert result.stdout == ""
        assert result.stderr.startswith(f"gate: {nothing}: no Deployment chatterbox-tts in namespace default (from the kubeconfig ")
        assert "\n" not in result.stderr.strip()
    named = gate(env, "try", "--deployment", "chatterbox")
    assert named.exit_code == ExitStatus.API_NOT_FOUND
    assert "gate: no try set: no Deployment chatterbox in namespace tts" in named.stderr
    assert writes(kubeapi) == 0 and kubeapi.leases == {}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["--for", "2h"],
            "invalid --for '2h': expected more than the entry margin (5m00s: no entry in a try's last minutes) and at most 1h",
        ),
        (["--for", "5m"], "invalid --for '5m': expected more than the entry margin"),
        (["--for", "61m"], "at most 1h00m00s, e.g. 15m"),
        (["--for", "soon"], "invalid duration 'soon'"),
        (["--end", "--for", "10m"], "--end and --for '10m' contradict each other"),
    ],
)
def test_a_length_it_cannot_honour_is_refused_before_any_call(env, kubeapi, args, words):
    result = gate(env, "try", *args)
    assert result.exit_code == ExitStatus.USAGE, result.output
    assert words in result.stderr and result.stderr.count("\n") == 1
    assert kubeapi.calls() == []


def test_the_clusters_entry_margin_is_the_least_try(env, kubeapi, tmp_path):
    """With the cluster's own settings (`--config -` from the ConfigMap), its entry margin."""
    cluster = tmp_path / "gate.yaml"
    cluster.write_text(document(entryMargin="10m", window="01:00-05:00"))
    assert "more than the entry margin (10m00s" in gate(env, "try", "--for", "10m", "--config", str(cluster)).stderr
    result = gate(env, "try", "--for", "11m", "--config", str(cluster))
    assert result.exit_code == 0 and "(until 2026-11-12T14:01:00Z, the entry margin before the end)" in result.stdout


def test_end_twice_says_already_ended_and_writes_once(env, kubeapi):
    assert gate(env, "try", "--for", "1h").exit_code == 0
    before = writes(kubeapi)
    ended = gate(env, "try", "--end")
    assert ended.stdout.startswith(
        "ended: tts.gate/try-until removed from Lease tts/chatterbox-tts-gate (Deployment tts/chatterbox-tts) "
        "(was to run until 2026-11-12T15:00:00Z)"
    )
    again = gate(env, "try", "--end", "-o", "json")
    assert again.exit_code == 0
    assert json.loads(again.stdout) == {
        "try_until": None,
        "changed": False,
        "namespace": "tts",
        "deployment": "chatterbox-tts",
        "lease": "chatterbox-tts-gate",
        "found": None,
        "paused_by": [],
        "dry_run": False,
    }
    assert gate(env, "try", "--end").stdout.strip() == (
        "already ended: Lease tts/chatterbox-tts-gate (Deployment tts/chatterbox-tts) has no tts.gate/try-until; nothing changed"
    )
    assert writes(kubeapi) == before + 1
    assert policy.TRY_UNTIL not in kubeapi.state()


def test_a_new_try_replaces_the_last_and_says_what_it_replaced(env, kubeapi):
    kubeapi.set_state({policy.TRY_UNTIL: "next tuesday"})
    result = gate(env, "try", "--for", "30m")
    assert "(it replaces one that was ignored: the Lease's tts.gate/try-until value 'next tuesday' is not an RFC 3339" in result.stdout
    assert kubeapi.state()[policy.TRY_UNTIL] == "2026-11-12T14:30:00Z"
    shorter = gate(env, "try", "--for", "10m", now="2026-11-12T14:05:00Z")
    assert "(it replaces one that was to run until 2026-11-12T14:30:00Z)" in shorter.stdout
    assert kubeapi.state()[policy.TRY_UNTIL] == "2026-11-12T14:15:00Z"  # the operator's word, shorter or not


def test_a_pause_wins_over_a_try_and_the_try_survives_it(env, kubeapi):
    assert gate(env, "pause").exit_code == 0
    tried = gate(env, "try")
    assert tried.exit_code == 0
    assert tried.stdout.rstrip().endswith(
        "; but the gate is paused by the Lease's tts.gate/paused annotation (gate pause): a pause wins, nothing takes the card"
    )
    assert json.loads(gate(env, "try", "-o", "json").stdout)["paused_by"] == ["the Lease's tts.gate/paused annotation (gate pause)"]
    assert (decision(gate(env, "preflight")), kubeapi.replicas()) == ("paused", 0)
    gate(env, "run", "--interval", "0.02s", "--metrics-port", "0", "--iterations", "2")
    assert kubeapi.replicas() == 0 and kubeapi.state()[policy.TRY_UNTIL] == "2026-11-12T14:15:00Z"  # paused, kept
    assert gate(env, "resume").exit_code == 0
    assert (decision(gate(env, "preflight", now="2026-11-12T14:05:00Z")), kubeapi.replicas()) == ("entered", 1)


def test_a_dry_run_writes_nothing(env, kubeapi):
    kubeapi.set_state({})
    before = dict(kubeapi.state())
    result = gate(env, "try", "--dry-run")
    assert result.exit_code == 0 and result.stdout.startswith("[dry run] trying: ")
    assert kubeapi.state() == before


def test_a_try_lands_through_other_writers_and_keeps_their_work(env, kubeapi):
    kubeapi.set_state({policy.YIELDED_AT: "2026-11-12T13:59:00Z"})
    kubeapi.rival_writes_per_put = 2
    assert gate(env, "try").exit_code == 0
    state = kubeapi.state()
    assert state[policy.TRY_UNTIL] == "2026-11-12T14:15:00Z"
    assert state[policy.YIELDED_AT] == "2026-11-12T13:59:00Z" and state["rival.test/writes"] == "2"


def test_the_windows_end_ends_a_try(env, kubeapi):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    kubeapi.set_state({policy.TRY_UNTIL: "2026-11-12T06:20:00Z"})
    down = gate(env, "down", now="2026-11-12T06:00:00Z")
    assert down.exit_code == 0 and kubeapi.replicas() == 0
    assert "tts.gate/try-until removed (the window's end ends a try)" in down.stdout
    assert policy.TRY_UNTIL not in kubeapi.state()
    # So the controller does not take the card back for the try's last twenty minutes.
    assert decision(gate(env, "preflight", now="2026-11-12T06:00:10Z")) == "out-of-window"


@pytest.mark.parametrize("value", ["2026-11-12T16:00:00Z", "soon", "2026-11-12T14:15:00"])
def test_a_try_it_cannot_honour_is_ignored_and_the_status_and_a_warning_say_why(env, kubeapi, value):
    kubeapi.set_state({policy.TRY_UNTIL: value})
    status = gate(env, "status")
    assert "IGNORED: the Lease's tts.gate/try-until" in status.stdout, status.stdout
    assert json.loads(gate(env, "status", "-o", "json").stdout)["view"]["try_ignored"].startswith("the Lease's tts.gate/try-until")
    preflight = gate(env, "preflight")
    assert (decision(preflight), kubeapi.replicas()) == ("out-of-window", 0)
    [event] = kubeapi.events
    assert (event["type"], event["reason"]) == ("Warning", "PreflightOutOfWindow")
    assert "tts.gate/try-until" in event["message"] and "ignored" in event["message"]


def test_the_gauge_says_when_the_try_ends_and_0_without_one():
    """What the alerts read to stay quiet during a try: its end, a Unix time."""
    config = policy.Settings("tts", "chatterbox-tts", 6 * 2**30, total_bytes=15 * 2**30)
    now = datetime(2026, 11, 12, 14, 0, tzinfo=UTC)
    metrics = WatchMetrics()
    for stored, expected in (({policy.TRY_UNTIL: "2026-11-12T14:15:00Z"}, 1794492900.0), ({}, 0.0), ({policy.TRY_UNTIL: "x"}, 0.0)):
        state = policy.GateState.from_annotations(0, stored)
        view = policy.assess(policy.Reading(sampled_at=now), config, now, state)
        outcome = Outcome("tick", now, state, policy.step("tick", view, state, config), view, False)
        metrics.record(outcome, config, 0.0)
        assert metrics.registry.get_sample_value("gate_try_until_timestamp_seconds") == expected


def test_operatings_recipes_each_way_there_and_back_do_what_they_say(env, kubeapi):
    """docs/operating.md's `gate try` lines as printed, and its `kubectl annotate` lines with
    the value the printed `date` writes, applied to the API double as kubectl would: each is
    honoured, each way back ends it."""
    import re
    import shlex
    import subprocess
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "operating.md").read_text()
    section = text[text.index("## Try it now") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    lines = [line.split("#")[0].strip() for line in block.splitlines()]
    try_line, end_line, annotate, remove = lines[:4]
    assert try_line == "gate try --namespace tts --for 15m" and end_line == "gate try --namespace tts --end"
    assert gate(env, *shlex.split(try_line)[1:]).exit_code == 0
    assert decision(gate(env, "preflight")) == "entered"
    assert gate(env, *shlex.split(end_line)[1:]).stdout.startswith("ended: tts.gate/try-until removed")
    assert decision(gate(env, "guard")) == "out-of-window" and kubeapi.replicas() == 0
    # kubectl's way, on the real clock: the printed `date` writes the value.
    command = re.fullmatch(r"kubectl -n tts annotate lease chatterbox-tts-gate tts\.gate/try-until=\$\((.*)\) --overwrite", annotate)
    assert command, annotate
    value = subprocess.run(shlex.split(command.group(1)), capture_output=True, text=True, check=True).stdout.strip()
    kubeapi.set_state({policy.TRY_UNTIL: value})
    real_now = datetime.now(UTC)
    now = real_now.strftime("%Y-%m-%dT%H:%M:%SZ")
    # A window the real clock is far from (inside it, its end would end the try first: a run in
    # the window's last minutes would read "window-ending").
    env = {**env, "GATE_TIMEZONE": "UTC", "GATE_WINDOW": f"{real_now + timedelta(hours=2):%H:%M}-{real_now + timedelta(hours=3):%H:%M}"}
    status = gate(env, "status", now=now)
    assert re.search(r"^try +until \S+ \(1[45]m[0-9]{2}s left\)", status.stdout, re.M), status.stdout
    assert decision(gate(env, "preflight", now=now)) in ("entered", "already-up")
    assert remove == "kubectl -n tts annotate lease chatterbox-tts-gate tts.gate/try-until-"
    kubeapi.set_state({})  # what removing the annotation leaves
    assert decision(gate(env, "guard", now="2026-11-12T14:00:00Z")) == "out-of-window"
