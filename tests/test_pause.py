"""`gate pause` and `gate resume` against the kube-apiserver double: they name where they act,
refuse a Deployment that is not there (nothing written anywhere), say when nothing changed, and
the pause annotation reads what operators write (an unreadable value pauses, visibly)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gate import policy
from gate.cli import app
from gate.status import ExitStatus


def gate(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def default_env(env, kubeapi, tmp_path) -> dict[str, str]:
    """A workstation's kubeconfig whose context names `default`; the release is in `tts`."""
    return {**env, "KUBECONFIG": kubeapi.kubeconfig(tmp_path / "default-kubeconfig", namespace="default")}


def test_a_kubeconfig_namespace_without_the_deployment_pauses_nothing_and_says_where_it_looked(default_env, kubeapi):
    result = gate(default_env, "pause")
    assert result.exit_code == ExitStatus.API_NOT_FOUND
    assert result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith("gate: nothing paused: no Deployment chatterbox-tts in namespace default (from the kubeconfig ")
    assert "--namespace" in line and "--deployment" in line
    assert kubeapi.calls("POST") == [] and kubeapi.calls("PUT") == []  # no Lease nobody reads
    assert all(namespace != "default" for namespace, _ in kubeapi.leases)
    # The same kubeconfig with the release's namespace acts, and says where.
    named = gate(default_env, "pause", "--namespace", "tts")
    assert named.exit_code == 0, named.output
    assert "Lease tts/chatterbox-tts-gate (Deployment tts/chatterbox-tts) now has tts.gate/paused=true" in named.stdout
    assert kubeapi.state()[policy.PAUSED] == "true"


def test_a_kubeconfig_without_a_namespace_names_the_fallback(env, kubeapi, tmp_path):
    bare = {**env, "KUBECONFIG": kubeapi.kubeconfig(tmp_path / "bare", namespace=None)}
    result = gate(bare, "resume")
    assert result.exit_code == ExitStatus.API_NOT_FOUND
    assert "nothing resumed: no Deployment chatterbox-tts in namespace default (the fallback: no --namespace" in result.stderr


def test_a_missing_deployment_named_by_flag_is_refused(env, kubeapi):
    for command in ("pause", "resume"):
        result = gate(env, command, "--deployment", "chatterbox")
        assert result.exit_code == ExitStatus.API_NOT_FOUND, result.output
        verb = "paused" if command == "pause" else "resumed"
        assert f"gate: nothing {verb}: no Deployment chatterbox in namespace tts (from the kubeconfig" in result.stderr
    assert kubeapi.leases == {} and kubeapi.calls("PUT") == []


def test_twice_paused_and_twice_resumed_say_already_and_write_once(env, kubeapi):
    first = gate(env, "pause")
    assert first.exit_code == 0 and first.stdout.startswith("paused: Lease tts/chatterbox-tts-gate")
    writes = len(kubeapi.calls("POST")) + len(kubeapi.calls("PUT"))
    second = gate(env, "pause")
    assert second.exit_code == 0
    assert second.stdout.strip() == (
        "already paused: Lease tts/chatterbox-tts-gate (Deployment tts/chatterbox-tts) has tts.gate/paused=true; nothing changed"
    )
    resumed = gate(env, "resume")
    assert resumed.exit_code == 0 and resumed.stdout.startswith("resumed: tts.gate/paused removed from Lease tts/chatterbox-tts-gate")
    again = gate(env, "resume", "-o", "json")
    assert again.exit_code == 0
    assert json.loads(again.stdout) == {
        "paused": False,
        "changed": False,
        "namespace": "tts",
        "deployment": "chatterbox-tts",
        "lease": "chatterbox-tts-gate",
        "found": None,
        "paused_by": [],
        "dry_run": False,
    }
    assert len(kubeapi.calls("POST")) + len(kubeapi.calls("PUT")) == writes + 1  # the resume; the repeats wrote nothing


@pytest.mark.parametrize("value", ["true", "TRUE", "yes", "Yes", "1", " true "])
def test_what_operators_write_for_on_pauses_and_is_already_paused(env, kubeapi, value):
    kubeapi.set_state({policy.PAUSED: value})
    assert gate(env, "preflight").stdout.split()[2] == "paused:"
    assert kubeapi.replicas() == 0
    assert gate(env, "pause").stdout.startswith("already paused:")


@pytest.mark.parametrize("value", ["false", "False", "no", "NO", "0"])
def test_what_operators_write_for_off_runs_and_is_already_resumed(env, kubeapi, value):
    kubeapi.set_state({policy.PAUSED: value})
    assert gate(env, "resume").stdout.startswith("already resumed:")
    assert gate(env, "preflight").stdout.split()[2] == "entered"


@pytest.mark.parametrize("value", ["on", "paused", "tru", "", "2"])
def test_an_unreadable_value_pauses_and_status_and_the_event_say_why(env, kubeapi, value):
    kubeapi.set_state({policy.PAUSED: value})
    status = gate(env, "status")
    assert f"whose value {value!r} is not one of true/yes/1 or false/no/0 (read as a pause" in status.stdout, status.stdout
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    kubeapi.set_state({policy.PAUSED: value})
    guard = gate(env, "guard")
    assert (guard.exit_code, kubeapi.replicas()) == (0, 0)  # holding, it gives the card back
    [event] = kubeapi.events
    assert event["type"] == "Warning" and event["reason"] == "YieldPaused"
    assert f"whose value {value!r} is not one of" in event["message"]
    # Either command rewrites it: resume clears it (the gate then runs again), pause makes it true.
    resumed = gate(env, "resume")
    assert f"(it read {value!r}, which is neither on nor off and paused)" in resumed.stdout
    assert policy.PAUSED not in kubeapi.state()


def test_the_controller_records_one_warning_event_for_an_unreadable_pause(env, kubeapi):
    kubeapi.set_state({policy.PAUSED: "on"})
    result = gate({**env, "GATE_LOG_FORMAT": "json"}, "run", "--interval", "0.02s", "--metrics-port", "0", "--iterations", "3")
    assert result.exit_code == 0, result.output
    assert kubeapi.replicas() == 0
    [event] = kubeapi.events
    assert (event["type"], event["reason"]) == ("Warning", "DownPaused")
    assert "'on' is not one of true/yes/1 or false/no/0" in event["message"]


@pytest.mark.parametrize(
    ("value", "switch"),
    [(None, False), ("true", True), ("Yes", True), ("1", True), ("no", False), ("0", False), ("FALSE", False), ("y", None), ("", None)],
)
def test_read_switch(value, switch):
    assert policy.read_switch(value) is switch
    state = policy.GateState.from_annotations(0, {} if value is None else {policy.PAUSED: value})
    assert state.paused is (switch is not False)
    assert state.pause_unreadable == (value if switch is None else None)
