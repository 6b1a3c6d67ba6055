"""The commands end to end: options only as GATE_* variables plus KUBECONFIG, against the
loopback exporter and the loopback kube-apiserver."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from kubeapi import Fault
from loopback import unused_port
from typer.testing import CliRunner

from gate.cli import app
from gate.status import ExitStatus

NIGHT = "2026-11-12T02:30:00Z"
DAY = "2026-11-12T14:00:00Z"


def gate(env: dict[str, str], *args: str):
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    return result


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


# -- preflight ----------------------------------------------------------------------------------


def test_preflight_takes_the_card_when_residents_leave_room(env, kubeapi):
    result = gate(env, "preflight")
    assert result.exit_code == ExitStatus.OK, result.stderr
    assert kubeapi.replicas() == 1
    # One output per run: the report on stdout, with the time; nothing on stderr.
    assert one_line(result.stdout).startswith(f"{NIGHT} preflight: entered (scaled 0 -> 1): taking the card")
    assert [e["reason"] for e in kubeapi.events] == ["PreflightEntered"]
    assert result.stderr == ""


def test_preflight_refuses_without_room_and_records_why(env, kubeapi):
    result = gate({**env, "GATE_FLOOR": "9GiB"}, "preflight")
    assert result.exit_code == ExitStatus.OK
    assert kubeapi.replicas() == 0
    assert "no-room" in result.stdout
    assert [e["reason"] for e in kubeapi.events] == ["PreflightNoRoom"]


def test_preflight_outside_the_window_does_nothing(env, kubeapi):
    result = gate({**env, "GATE_NOW": DAY}, "preflight")
    assert result.exit_code == ExitStatus.OK
    assert kubeapi.replicas() == 0
    assert "out-of-window" in result.stdout


def test_preflight_blind_refuses_and_exits_3(env, kubeapi, exporter):
    exporter.serve("unavailable", status=503)
    result = gate(env, "preflight")
    assert result.exit_code == ExitStatus.METRICS
    assert kubeapi.replicas() == 0
    assert "HTTP 503" in result.stdout
    [event] = kubeapi.events
    assert (event["reason"], event["type"]) == ("PreflightBlind", "Warning")


def test_preflight_is_a_no_op_when_already_up(env, kubeapi):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    result = gate(env, "preflight")
    assert result.exit_code == ExitStatus.OK
    assert "already-up" in result.stdout
    assert kubeapi.calls("PATCH") == [] and kubeapi.events == []


def test_dry_run_changes_nothing(env, kubeapi):
    result = gate({**env, "GATE_DRY_RUN": "true"}, "preflight")
    assert result.exit_code == ExitStatus.OK
    assert "[dry run] preflight: entered (would scale 0 -> 1)" in result.stdout
    assert kubeapi.replicas() == 0
    assert kubeapi.calls("PATCH") == [] and kubeapi.calls("POST") == []


def test_json_output(env, kubeapi):
    result = gate({**env, "GATE_OUTPUT": "json"}, "preflight")
    report = json.loads(result.stdout)
    assert report["decision"]["reason"] == "entered"
    assert report["replicas_before"] == 0 and report["replicas_after"] == 1
    assert report["view"]["resident_bytes"] == 6600 * 2**20
    assert report["view"]["own_bytes"] == 4608 * 2**20


def test_json_output_is_one_line_for_a_log(env):
    result = gate({**env, "GATE_OUTPUT": "json"}, "preflight")
    log = json.loads(one_line(result.stdout))
    assert (log["time"], log["command"], log["decision"]["reason"], log["replicas_after"]) == (NIGHT, "preflight", "entered", 1)


def test_down_says_when(env, kubeapi):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    result = gate(env, "down")
    assert one_line(result.stdout) == f"{NIGHT} down: window-end (scaled 1 -> 0): scaling 1 replica(s) to 0"


# -- guard --------------------------------------------------------------------------------------


def test_guard_does_not_evict_itself(env, kubeapi):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    result = gate({**env, "GATE_TOTAL": "16GiB"}, "guard")  # the seed's 16 GiB - all pods would be 4.9 GiB
    assert result.exit_code == ExitStatus.OK
    assert "holding" in result.stdout
    assert kubeapi.replicas() == 1


def test_guard_yields_when_a_resident_wakes(env, kubeapi):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    result = gate({**env, "GATE_FLOOR": "9GiB"}, "guard")
    assert result.exit_code == ExitStatus.OK
    assert kubeapi.replicas() == 0
    assert kubeapi.state() == {"tts.gate/yielded-at": NIGHT, "tts.gate/yield-streak": "1"}
    assert [e["reason"] for e in kubeapi.events] == ["YieldNoRoom"]


def test_guard_yields_when_blind(env, kubeapi, exporter):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    exporter.serve("<html>bad gateway</html>")
    result = gate(env, "guard")
    assert result.exit_code == ExitStatus.METRICS
    assert kubeapi.replicas() == 0


def test_reentry_after_a_yield_waits_for_stable_room(env, kubeapi):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    assert gate({**env, "GATE_FLOOR": "9GiB"}, "guard").exit_code == 0  # yield at 02:30
    # The first yield of a streak: 10 s of room (gate.cooldown), counted from the first run that saw it.
    steps = [
        ("2026-11-12T02:31:00Z", "cooling-down", 0),
        ("2026-11-12T02:31:09Z", "cooling-down", 0),
        ("2026-11-12T02:31:10Z", "entered", 1),
    ]
    for now, reason, replicas in steps:
        result = gate({**env, "GATE_NOW": now}, "preflight")
        assert reason in result.stdout, now
        assert kubeapi.replicas() == replicas, now
    # The cool-down state is gone but the streak, which the next yield reads; the entry is recorded,
    # with the `unknown` Xorg process as the unattributed baseline the start-up grace measures from,
    # and the Deployment's generation before the scale-up (the yield moved it from 1 to 2).
    assert kubeapi.state() == {
        "tts.gate/entered-at": "2026-11-12T02:31:10Z",
        "tts.gate/entry-unattributed-bytes": "104857600",
        "tts.gate/yield-streak": "1",
        "tts.gate/entry-generation": "2",
    }


# -- down ---------------------------------------------------------------------------------------


def test_down_works_with_the_exporter_gone(env, kubeapi):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    kubeapi.set_state({"tts.gate/yielded-at": NIGHT})
    result = gate({**env, "GATE_METRICS_URL": "http://127.0.0.1:9/metrics", "GATE_TOTAL": "device"}, "down")
    assert result.exit_code == ExitStatus.OK, result.stderr
    assert kubeapi.replicas() == 0
    assert kubeapi.state() == {}


# -- status -------------------------------------------------------------------------------------


def test_status_prints_the_table(env, kubeapi):
    result = gate(env, "status")
    assert result.exit_code == ExitStatus.OK
    out = result.stdout
    assert "resident immich/immich-machine-learning-7d9f8b6c5d-x2k4p  2.10 GiB" in out
    assert "own tts/chatterbox-tts-6b7c9d8f5-h4j7k" in out
    assert "free for tts" in out and "8.55 GiB" in out
    assert "preflight would" in out and "entered" in out
    assert kubeapi.calls("PATCH") == [] and kubeapi.calls("POST") == []


def test_status_shows_desired_and_ready_replicas(env, kubeapi):
    wants(kubeapi, 1)
    assert re.search(r"^replicas +1 desired, 0 ready$", gate(env, "status").stdout, re.M)
    wants(kubeapi, 1, ready=1)
    status = json.loads(gate({**env, "GATE_OUTPUT": "json"}, "status").stdout)
    assert status["state"]["replicas"] == 1 and status["ready_replicas"] == 1


def test_status_json(env):
    result = gate({**env, "GATE_OUTPUT": "json"}, "status")
    status = json.loads(result.stdout)
    assert status["would"]["preflight"]["reason"] == "entered"
    assert status["state"]["replicas"] == 0
    assert status["view"]["free_bytes"] == (15360 - 6600) * 2**20


def test_status_shows_the_metrics_when_the_api_fails(env, kubeapi):
    kubeapi.denied.add(("get", "deployments"))
    result = gate(env, "status")
    assert result.exit_code == ExitStatus.API_DENIED
    assert "free for tts" in result.stdout
    assert "RBAC" in one_line(result.stderr)


# -- bad input and API failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("GATE_FLOOR", "six", "invalid size 'six'"),
        ("GATE_TOTAL", "15 tera", "invalid size '15 tera'"),
        ("GATE_WINDOW", "2-6", "invalid window '2-6'"),
        ("GATE_TIMEZONE", "Europe/Londn", "invalid time zone 'Europe/Londn'"),
        ("GATE_SOURCE", "nvml", "invalid source 'nvml'"),
        ("GATE_COOLDOWN", "soon", "invalid duration 'soon'"),
        ("GATE_OUTPUT", "yaml", "invalid output format 'yaml'"),
        ("GATE_TOTAL", "device", "reports no device total: set GATE_TOTAL"),
        ("GATE_FLOOR", "6.5", "invalid size '6.5'"),
        ("GATE_FLOOR", "6 GB", "invalid size '6 GB'"),
        ("GATE_FLOOR", "6GB", "decimal units (GB) are refused"),
        ("GATE_FLOOR", "0MiB", "invalid floor '0MiB': expected more than zero"),
        ("GATE_FLOOR", "16GiB", "not below the card's total 15.00 GiB"),
        ("GATE_WINDOW", "02:00-02:00", "start equals end"),
        ("GATE_WINDOW", "02:00-06:00 ", "invalid window '02:00-06:00 '"),
        ("GATE_COOLDOWN", "2m ", "invalid duration '2m '"),
        ("GATE_DEVICE_SOURCE", "nvml", "invalid device source 'nvml'"),
        ("GATE_DEVICE_SOURCE", "dcgm", "needs --device-url (GATE_DEVICE_URL)"),
        ("GATE_STARTUP_GRACE", "a while", "invalid duration 'a while'"),
        ("GATE_OWN_PEAK", "big", "invalid size 'big'"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_touches_nothing(env, kubeapi, variable, value, message):
    result = gate({**env, variable: value}, "preflight")
    assert result.exit_code == ExitStatus.USAGE
    assert message in one_line(result.stderr)
    assert kubeapi.requests == []


def test_a_device_source_beside_a_device_level_source_is_bad_input(env, kubeapi):
    device = {"GATE_SOURCE": "dcgm", "GATE_DEVICE_SOURCE": "nvidia-smi", "GATE_DEVICE_URL": "http://127.0.0.1:9/metrics"}
    result = gate({**env, **device}, "preflight")
    assert result.exit_code == ExitStatus.USAGE
    assert "is device-level already" in one_line(result.stderr)
    assert kubeapi.requests == []


@pytest.mark.parametrize(
    ("setup", "status", "message"),
    [
        (lambda api: api.tokens.clear(), ExitStatus.API_DENIED, "HTTP 401"),
        (lambda api: api.denied.add(("patch", "deployments/scale")), ExitStatus.API_DENIED, "RBAC"),
        (lambda api: api.deployments.clear(), ExitStatus.API_NOT_FOUND, 'deployments.apps "chatterbox-tts" not found'),
        (lambda api: api.faults.append(Fault("PATCH", "/scale$", status=409)), ExitStatus.API_REJECTED, "HTTP 409"),
        (lambda api: api.faults.append(Fault("PATCH", "/scale$", status=422)), ExitStatus.API_REJECTED, "HTTP 422"),
        (lambda api: api.faults.append(Fault("*", ".", status=503, times=9)), ExitStatus.API_UNAVAILABLE, "HTTP 503"),
    ],
)
def test_api_failures_exit_with_their_status_and_one_line(env, kubeapi, setup, status, message):
    setup(kubeapi)
    result = gate(env, "preflight")
    assert result.exit_code == status
    line = one_line(result.stderr)
    assert message in line
    assert kubeapi.token not in result.stderr + result.stdout


def test_missing_kubeconfig_is_bad_input(env, tmp_path):
    result = gate({**env, "KUBECONFIG": str(tmp_path / "nope")}, "preflight")
    assert result.exit_code == ExitStatus.USAGE
    assert "does not exist" in one_line(result.stderr)


def test_help_lists_the_commands_and_exit_statuses():
    result = CliRunner().invoke(app, ["--help"])
    for word in ("preflight", "guard", "down", "status", "Exit status", "blind"):
        assert word in result.stdout


# -- guard --watch (a real process, real signals) -------------------------------------------------


def test_watch_yields_serves_metrics_and_stops_cleanly_on_sigterm(env, kubeapi, exporter):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    port = unused_port()
    process_env = {**os.environ, **env, "GATE_METRICS_PORT": str(port), "GATE_METRICS_ADDRESS": "127.0.0.1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gate", "guard", "--watch", "--interval", "0.1s"],
        env=process_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    try:
        metrics = ""
        for _ in range(100):
            try:
                metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
                if 'gate_decisions_total{command="guard",deployment="chatterbox-tts",reason="holding"}' in metrics:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        assert re.search(r'^gate_free_bytes\{deployment="chatterbox-tts"\} 9\.185525760?e\+09$', metrics, re.M), metrics
        assert kubeapi.replicas() == 1
        exporter.serve("", status=500)  # the exporter dies: the sidecar must yield
        for _ in range(100):
            if kubeapi.replicas() == 0:
                break
            time.sleep(0.05)
        assert kubeapi.replicas() == 0
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "reason=blind" in stderr
    assert stderr.rstrip().endswith("gate: guard --watch stopped")


# -- check (helm test) ----------------------------------------------------------------------------


@pytest.fixture
def tts_server():
    """The TTS server's two endpoints the check uses, as the real one answers them."""
    from exporter import Answer, FakeExporter

    wav = b"RIFF" + (36 + 4800).to_bytes(4, "little") + b"WAVEfmt " + bytes(24) + b"data" + (4800).to_bytes(4, "little") + bytes(4800)
    with FakeExporter() as server:
        server.answers["/api/model-info"] = Answer(
            json.dumps({"loaded": True, "type": "multilingual", "device": "cuda"}).encode(), content_type="application/json"
        )
        server.answers["/v1/audio/speech"] = Answer(wav, content_type="audio/wav")
        yield server


def test_check_passes_with_metrics_rbac_and_a_wav(env, kubeapi, tts_server):
    result = gate({**env, "GATE_SERVER_URL": tts_server.base_url}, "check")
    assert result.exit_code == ExitStatus.OK, result.stderr
    assert [line.split()[0:2] for line in result.stdout.splitlines()] == [["ok", "metrics:"], ["ok", "rbac:"], ["ok", "server:"]]
    assert "dryRun=All" in kubeapi.calls("PATCH")[0]["path"]
    assert kubeapi.replicas() == 0 and kubeapi.events == [] and kubeapi.state() == {} and kubeapi.leases == {}


def wants(kubeapi, replicas: int, ready: int = 0) -> None:
    deployment = kubeapi.deployments[("tts", "chatterbox-tts")]
    deployment["spec"]["replicas"] = replicas
    deployment["status"] = {"replicas": replicas, "readyReplicas": ready} if ready else {"replicas": replicas}


def test_check_skips_a_refusing_server_only_when_the_deployment_is_at_zero(env, kubeapi):
    url = f"http://127.0.0.1:{unused_port()}"
    result = gate({**env, "GATE_SERVER_URL": url}, "check")
    assert result.exit_code == ExitStatus.OK
    server = result.stdout.splitlines()[-1]
    assert server.startswith("skip server: ")  # not "ok": nothing was synthesized
    assert "connection refused" in server and "Deployment is at 0 replicas: the server is down" in server
    assert "testFramework.synthesize makes this a failure" in server
    as_json = gate({**env, "GATE_SERVER_URL": url}, "check", "-o", "json")
    assert json.loads(as_json.stdout)[-1] | {"detail": ""} == {"check": "server", "passed": True, "skipped": True, "detail": ""}


def test_check_asked_to_synthesize_fails_at_zero_replicas_in_one_line(env, kubeapi):
    url = f"http://127.0.0.1:{unused_port()}"
    result = gate({**env, "GATE_SERVER_URL": url, "GATE_CHECK_SYNTHESIZE": "true"}, "check")
    assert result.exit_code == ExitStatus.SERVER
    assert result.stdout.splitlines()[-1].startswith("FAIL server: asked to synthesize, but ")
    line = one_line(result.stderr)
    assert "the Deployment is at 0 replicas" in line and "run helm test again while the gate holds the card" in line


def test_check_asked_to_synthesize_needs_a_server_url(env, kubeapi):
    result = gate(env, "check", "--synthesize")
    assert result.exit_code == ExitStatus.USAGE
    assert one_line(result.stderr) == "gate: --synthesize needs --server-url (the server to synthesize on)"


def test_check_asked_to_synthesize_queues_its_phrase_behind_a_busy_server(env, kubeapi, tts_server):
    from exporter import Answer

    wants(kubeapi, 1, ready=1)
    tts_server.answers["/api/model-info"] = Answer(b'{"loaded": true, "device": "cuda"}', delay_seconds=3)
    result = gate({**env, "GATE_SERVER_URL": tts_server.base_url, "GATE_TIMEOUT": "1s"}, "check", "--synthesize")
    assert result.exit_code == ExitStatus.OK, result.stderr
    assert result.stdout.splitlines()[-1].startswith("ok   server: model ? on its device unchecked (busy at first);")
    assert len(tts_server.posted) == 1


def test_check_fails_a_refusing_server_the_deployment_wants(env, kubeapi):
    wants(kubeapi, 1)
    result = gate({**env, "GATE_SERVER_URL": f"http://127.0.0.1:{unused_port()}"}, "check")
    assert result.exit_code == ExitStatus.SERVER
    assert "FAIL server" in result.stdout
    assert "the Deployment wants 1 replica(s) but" in one_line(result.stderr) and "connection refused" in result.stderr


def test_check_fails_a_wanted_server_whose_name_does_not_resolve(env, kubeapi, monkeypatch):
    """No Service (or a wrong URL): the cluster's DNS has no such name."""
    import socket

    resolve = socket.getaddrinfo

    def no_such_name(host, *args, **kwargs):
        if host == "chatterbox-tts.tts.svc":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    wants(kubeapi, 1)
    result = gate({**env, "GATE_SERVER_URL": "http://chatterbox-tts.tts.svc:8000"}, "check")
    assert result.exit_code == ExitStatus.SERVER
    assert "name not resolved" in one_line(result.stderr)


def test_check_reports_a_hanging_server_as_busy_not_down(env, kubeapi, tts_server):
    """A synthesis blocks the server's event loop: the connection is accepted, no answer comes."""
    from exporter import Answer

    wants(kubeapi, 1, ready=1)
    tts_server.answers["/api/model-info"] = Answer(b'{"loaded": true, "device": "cuda"}', delay_seconds=3)
    result = gate({**env, "GATE_SERVER_URL": tts_server.base_url, "GATE_TIMEOUT": "1s"}, "check")
    assert result.exit_code == ExitStatus.OK, result.stderr
    assert "busy synthesizing, not checked" in result.stdout
    assert tts_server.posted == []  # no synthesis queued behind the busy one


def test_check_fails_a_server_that_runs_without_its_model(env, kubeapi, tts_server):
    from exporter import Answer

    wants(kubeapi, 1, ready=1)
    tts_server.answers["/api/model-info"] = Answer(b'{"loaded": false, "type": null, "device": null}', content_type="application/json")
    result = gate({**env, "GATE_SERVER_URL": tts_server.base_url}, "check")
    assert result.exit_code == ExitStatus.SERVER
    assert "model not loaded" in one_line(result.stderr)
    assert tts_server.posted == []


def test_check_synthesizes_when_the_deployment_wants_the_server(env, kubeapi, tts_server):
    wants(kubeapi, 1, ready=1)
    result = gate({**env, "GATE_SERVER_URL": tts_server.base_url}, "check")
    assert result.exit_code == ExitStatus.OK, result.stderr
    assert json.loads(tts_server.posted[0])["voice"] == "Emily.wav"


def test_check_names_the_synthesis_limit_it_ran_out_of(env, kubeapi, tts_server):
    """helm test kills the pod at its own --timeout: the check's limit comes first and says how to
    lengthen it."""
    from exporter import Answer

    wants(kubeapi, 1, ready=1)
    tts_server.answers["/v1/audio/speech"] = Answer(b"RIFF", content_type="audio/wav", delay_seconds=3)
    result = gate({**env, "GATE_SERVER_URL": tts_server.base_url, "GATE_SYNTH_TIMEOUT": "1s"}, "check")
    assert result.exit_code == ExitStatus.SERVER
    assert "no audio within 1s" in one_line(result.stderr) and "testFramework.synthTimeout" in result.stderr


def test_check_fails_on_missing_rbac_with_the_hint(env, kubeapi):
    kubeapi.denied.add(("create", "events"))
    result = gate(env, "check")
    assert result.exit_code == ExitStatus.API_DENIED
    assert "FAIL rbac" in result.stdout and "RBAC" in one_line(result.stderr)


def test_check_fails_when_the_model_fell_back_to_the_cpu(env, tts_server):
    from exporter import Answer

    tts_server.answers["/api/model-info"] = Answer(json.dumps({"loaded": True, "device": "cpu"}).encode())
    result = gate({**env, "GATE_SERVER_URL": tts_server.base_url}, "check")
    assert result.exit_code == ExitStatus.SERVER
    assert "not the GPU" in one_line(result.stderr)
    # With the chart's server.allowCpu (no GPU in the cluster), a CPU is what was asked for.
    result = gate({**env, "GATE_SERVER_URL": tts_server.base_url, "GATE_CHECK_ALLOW_CPU": "true"}, "check")
    assert result.exit_code == 0 and "on cpu" in result.stdout, result.output
    tts_server.answers["/api/model-info"] = Answer(json.dumps({"loaded": True, "device": "mps"}).encode())
    assert gate({**env, "GATE_SERVER_URL": tts_server.base_url, "GATE_CHECK_ALLOW_CPU": "true"}, "check").exit_code == ExitStatus.SERVER


def test_check_names_a_missing_voice(env, tts_server):
    from exporter import Answer

    tts_server.answers["/v1/audio/speech"] = Answer(b'{"detail":"Voice file not found"}', status=404)
    result = gate({**env, "GATE_SERVER_URL": tts_server.base_url}, "check")
    assert "voice 'Emily.wav' not found" in one_line(result.stderr)


def test_watch_refuses_a_metrics_port_in_use(env, kubeapi):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = gate({**env, "GATE_METRICS_ADDRESS": "127.0.0.1", "GATE_METRICS_PORT": str(port)}, "guard", "--watch", "--iterations", "1")
    assert result.exit_code == ExitStatus.USAGE
    assert f"cannot serve metrics on 127.0.0.1:{port}" in one_line(result.stderr)
    assert kubeapi.requests == []


# -- what each command declares -------------------------------------------------------------------


def test_gate_version():
    from gate import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"gate {__version__}\n")


@pytest.mark.parametrize(
    ("command", "has", "has_not"),
    [
        ("down", ["--dry-run", "--namespace", "--output"], ["--metrics-url", "--floor", "--window", "--source", "--log-format"]),
        ("status", ["--metrics-url", "--floor", "--output"], ["--dry-run", "--log-format"]),
        ("check", ["--server-url", "--voice"], ["--dry-run", "--log-format"]),
        ("preflight", ["--dry-run", "--floor", "--demand-url"], ["--log-format", "--interval"]),
        ("run", ["--interval", "--log-format", "--dry-run"], ["--output"]),
        # Every command that uses settings takes the settings file.
        ("preflight", ["--config"], []),
        ("guard", ["--config", "--interval"], []),
        ("run", ["--config", "--enabled"], []),
        ("down", ["--config", "--timeout"], ["--enabled"]),
        ("status", ["--config", "--enabled"], []),
        ("pause", ["--namespace", "--dry-run", "--config"], ["--floor", "--metrics-url", "--enabled"]),
        ("resume", ["--namespace", "--dry-run"], ["--floor", "--window"]),
        ("try", ["--for", "--end", "--namespace", "--dry-run", "--config"], ["--floor", "--metrics-url", "--entry-margin"]),
        ("check-config", ["--floor", "--window", "--enabled"], ["--namespace", "--dry-run", "--kubeconfig", "--config"]),
        ("replay", ["--config", "--paused", "--floor", "--enabled"], ["--dry-run", "--kubeconfig", "--metrics-url"]),
    ],
)
def test_each_command_declares_only_the_options_it_uses(command, has, has_not):
    text = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
    assert all(option in text for option in has), (command, text)
    assert not any(option in text for option in has_not), (command, text)


def test_the_help_lists_every_exit_status():
    from gate.status import ExitStatus

    text = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).stdout
    for status in ExitStatus:
        assert f"  {int(status)} " in text, status


# -- a pipe closed early (`gate ... | head`) ------------------------------------------------------


@pytest.mark.parametrize("args", [["replay", "samples/nights/busy.csv", "--compare"], ["measure", "samples/baked/bake.csv", "-o", "json"]])
def test_a_reader_that_leaves_early_ends_the_command_quietly(args):
    """As `| head` does: the reader closes the pipe before the command has written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gate", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parent.parent
    )
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == ExitStatus.BROKEN_PIPE
    assert stderr == b""  # no "internal error: BrokenPipeError", no "Exception ignored" at exit
