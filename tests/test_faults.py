"""The fault matrix (tests/faults.py): each cell run end to end, through the CLI, against the
loopback exporter and the kube-apiserver double. docs/faults.md is generated from the same data."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from controlport import FakeControlPort
from exporter import Answer, FakeExporter, fixture
from faults import (
    API_FAULTS,
    ATTACKS,
    COMMANDS,
    EXPORTER_FAULTS,
    NIGHT,
    PARK_COMMANDS,
    PARK_FAULTS,
    SETTINGS_COMMANDS,
    SETTINGS_FAULTS,
    START_REPLICAS,
    TIME_CELLS,
    SettingsFault,
    api_expectation,
    exporter_expectation,
    render,
    settings_expectation,
)
from gatedoc import document as settings_document
from kubeapi import FakeKubeAPI, Fault
from typer.testing import CliRunner

from gate.cli import app

ROOT = Path(__file__).resolve().parent.parent
WATCH_ARGS = ["--watch", "--interval", "0.05s", "--iterations", "3", "--metrics-port", "0"]


def base_env(kubeconfig: str, metrics_url: str) -> dict[str, str]:
    return {
        "KUBECONFIG": kubeconfig,
        "GATE_METRICS_URL": metrics_url,
        "GATE_TOTAL": "15360MiB",
        "GATE_FLOOR": "6GiB",
        "GATE_WINDOW": "02:00-06:00",
        "GATE_TIMEZONE": "Europe/London",
        "GATE_NOW": NIGHT,
        "GATE_TIMEOUT": "0.5s",
        "GATE_LOG_FORMAT": "json",
        "GATE_OUTPUT": "json",
        "GATE_DEBUG": "true",  # even at debug level, no token may show
    }


LOOPS = ("guard --watch", "run")


def invoke(command: str, env: dict[str, str]):
    args = {"guard --watch": ["guard", *WATCH_ARGS], "run": ["run", *WATCH_ARGS[1:]]}.get(command, [command])
    return CliRunner().invoke(app, args, env=env, catch_exceptions=False)


def decision_of(command: str, result) -> str:
    if command in LOOPS:  # the check that changed something, else the last one
        log = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
        changed = [entry for entry in log if entry["replicas_before"] != entry["replicas_after"]]
        return (changed or log or [{"reason": "-"}])[0 if changed else -1]["reason"]
    try:
        report = json.loads(result.stdout)
    except ValueError:
        return "-"
    if command == "status":
        return report["would"]["preflight"]["reason"] if report.get("would") else "-"
    return report["decision"]["reason"]


def check(command, result, api, expected, cause):
    output = result.stdout + result.stderr
    assert (decision_of(command, result), api.replicas(), result.exit_code) == (expected.decision, expected.replicas, expected.exit), output
    assert "token-1" not in output and "token-2" not in output
    if expected.exit != 0 or cause:
        # A failure names its cause on stderr; a decision that is no failure, in its report or log.
        stream = result.stderr if expected.exit != 0 else output
        assert any(cause in line for line in stream.splitlines()), f"no line names {cause!r}: {stream}"
    if expected.exit != 0 and command not in LOOPS:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# -- the exporter -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fault", EXPORTER_FAULTS, ids=[f.name for f in EXPORTER_FAULTS])
def test_exporter_faults(fault, command, tmp_path, monkeypatch):
    with FakeExporter() as exporter, FakeKubeAPI(replicas=START_REPLICAS[command]) as api:
        if START_REPLICAS[command] and fault.annotations:
            api.set_state(fault.annotations)
        if fault.answer is not None:
            exporter.answers["/metrics"] = fault.answer()
        device_env = {}
        if fault.device is not None or fault.device_url:
            if fault.device is not None:
                exporter.answers["/device"] = fault.device()
            device_env = {"GATE_DEVICE_SOURCE": "dcgm", "GATE_DEVICE_URL": fault.device_url or exporter.base_url + "/device"}
        if fault.dns_failure:
            real = socket.getaddrinfo

            def resolve(host, *args, **kwargs):
                if host == "gpu-pod-exporter.nvidia.svc":
                    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
                return real(host, *args, **kwargs)

            monkeypatch.setattr(socket, "getaddrinfo", resolve)
        env = {**base_env(api.kubeconfig(tmp_path / "kubeconfig", namespace="tts"), fault.url or exporter.url), **fault.env, **device_env}
        result = invoke(command, env)
        expected = exporter_expectation(command, fault.kind)
        check(command, result, api, expected, fault.cause if command != "down" else "")


# -- the Kubernetes API -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, str]:
    """A server certificate for 127.0.0.1, and an unrelated one to play the wrong CA."""
    directory = tmp_path_factory.mktemp("tls")
    paths = {}
    for name in ("server", "other"):
        key, cert = directory / f"{name}.key", directory / f"{name}.crt"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                f"/CN={name}",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        paths[name], paths[f"{name}_key"] = str(cert), str(key)
    return paths


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fault", API_FAULTS, ids=[f.name for f in API_FAULTS])
def test_api_faults(fault, command, tmp_path, certificates):
    tls = (certificates["server"], certificates["server_key"]) if fault.kubeconfig.get("wrong_ca") else None
    with FakeExporter() as exporter, FakeKubeAPI(replicas=START_REPLICAS[command], tls=tls) as api:
        exporter.serve(fixture("gpu-pod-exporter.prom"))
        kubeconfig = tmp_path / "kubeconfig"
        if fault.kubeconfig.get("rotate"):
            token_file = tmp_path / "token"
            token_file.write_text("token-1\n")
            api.rotate_token_file = token_file
            path = api.kubeconfig(kubeconfig, token_file=str(token_file), namespace="tts")
        else:
            path = api.kubeconfig(kubeconfig, namespace="tts", ca_file=certificates["other"] if tls else None)
        fault.setup(api)
        env = base_env(path, exporter.url)
        if command in ("guard", "guard --watch"):
            env["GATE_FLOOR"] = "9GiB"  # residents leave 8.55 GiB: the guard must yield
        result = invoke(command, env)
        expected = api_expectation(command, fault)
        # The cause is named wherever the failing call is made: a failed run, or the watch loop's log.
        named = expected.exit != 0 or (command == "guard --watch" and expected.decision == "-")
        check(command, result, api, expected, fault.cause if named else "")


def test_the_right_ca_is_trusted(tmp_path, certificates):
    with FakeExporter() as exporter, FakeKubeAPI(tls=(certificates["server"], certificates["server_key"])) as api:
        exporter.serve(fixture("gpu-pod-exporter.prom"))
        env = base_env(api.kubeconfig(tmp_path / "kubeconfig", namespace="tts", ca_file=certificates["server"]), exporter.url)
        assert invoke("preflight", env).exit_code == 0 and api.replicas() == 1


# -- time -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", TIME_CELLS, ids=[c.name for c in TIME_CELLS])
def test_time(cell, tmp_path):
    with FakeExporter() as exporter, FakeKubeAPI(replicas=0) as api:
        exporter.serve(fixture("gpu-pod-exporter.prom"))
        api.add_deployment("tts", "chatterbox-tts", cell.replicas)
        if cell.annotations:
            api.set_state(cell.annotations)
        env = {**base_env(api.kubeconfig(tmp_path / "kubeconfig", namespace="tts"), exporter.url), "GATE_NOW": cell.now}
        result = invoke(cell.command, env)
        check(cell.command, result, api, cell.expected, "")


# -- the settings file ---------------------------------------------------------------------------


def settings_file(fault: SettingsFault, directory: Path) -> str:
    if fault.path == "missing":
        return str(directory / "missing" / "gate.yaml")
    if fault.path is not None:
        return fault.path
    path = directory / "gate.yaml"
    assert fault.content is not None
    path.write_bytes(fault.content())
    return str(path)


def settings_env(kubeconfig: str, config: str) -> dict[str, str]:
    """As the chart's pods have it: who and where, and the file; no setting from a variable but
    the timeout. The peers here are healthy, so the timeout only sets the watchdog's bound
    (2 x interval + timeout): 2 s keeps a loaded machine's slow first iteration from racing it."""
    return {
        "KUBECONFIG": kubeconfig,
        "GATE_CONFIG": config,
        "GATE_NOW": NIGHT,
        "GATE_TIMEOUT": "2s",
        "GATE_LOG_FORMAT": "json",
        "GATE_OUTPUT": "json",
    }


@pytest.mark.parametrize("command", SETTINGS_COMMANDS)
@pytest.mark.parametrize("fault", SETTINGS_FAULTS, ids=[f.name for f in SETTINGS_FAULTS])
def test_a_refused_settings_file_at_start(fault, command, tmp_path):
    """The card ends at 0 whatever the file says (preflight and status take nothing and call
    nothing); the exit status is 2 and one line names the file's every problem."""
    start = 0 if command in ("preflight", "status") else 1
    with FakeExporter() as exporter, FakeKubeAPI(replicas=start) as api:
        exporter.serve(fixture("gpu-pod-exporter.prom"))
        env = settings_env(api.kubeconfig(tmp_path / "kubeconfig", namespace="tts"), settings_file(fault, tmp_path))
        result = invoke(command, env)
        expected = settings_expectation(command)
        output = result.stdout + result.stderr
        assert (decision_of(command, result), api.replicas(), result.exit_code) == (expected.decision, expected.replicas, expected.exit), (
            output
        )
        last = result.stderr.strip().splitlines()[-1]
        assert all(cause in last for cause in fault.causes), last
        if command not in LOOPS:
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        if command in ("preflight", "status"):
            assert api.requests == []
        if command in LOOPS:
            assert [e["reason"] for e in api.events if e["reason"] == "ConfigRefused"] == ["ConfigRefused"]


@pytest.mark.parametrize("fault", SETTINGS_FAULTS, ids=[f.name for f in SETTINGS_FAULTS])
def test_a_refused_settings_file_under_a_running_loop(fault, tmp_path):
    """The sidecar holds the card with room under a good file; the file turns into the fault
    (the kubelet swaps the link): each later iteration refuses it in one log line, the loop goes
    on with the settings it has, and never stops or raises."""
    with FakeExporter() as exporter, FakeKubeAPI(replicas=1) as api:
        exporter.serve(fixture("gpu-pod-exporter.prom"))
        good = tmp_path / "good.yaml"
        good.write_text(settings_document(floor="6GiB", total="15360MiB", metricsUrl=exporter.url))
        link = tmp_path / "gate.yaml"
        link.symlink_to(good)
        (tmp_path / "bad").mkdir()
        bad = settings_file(fault, tmp_path / "bad")

        def swap() -> None:
            deadline = time.monotonic() + 20
            while not api.calls("PATCH") and not api.calls("GET") and time.monotonic() < deadline:
                time.sleep(0.01)
            (tmp_path / "next").symlink_to(bad)
            os.replace(tmp_path / "next", link)

        swapper = threading.Thread(target=swap)
        swapper.start()
        env = {**settings_env(api.kubeconfig(tmp_path / "kubeconfig", namespace="tts"), str(link)), "GATE_METRICS_ADDRESS": "127.0.0.1"}
        result = CliRunner().invoke(app, ["guard", "--watch", "--interval", "0.2s", "--iterations", "4", "--metrics-port", "0"], env=env)
        swapper.join()
        assert (result.exit_code, api.replicas()) == (0, 1), result.output
        refused = [line for line in result.stderr.splitlines() if "settings refused" in line]
        assert len(refused) == 1 and all(cause in refused[0] for cause in fault.causes), result.stderr
        assert "keeping the settings in use" in refused[0]
        assert decision_of("guard --watch", result) == "holding"


# -- signals --------------------------------------------------------------------------------------


def test_sigterm_while_scaling_down_finishes_the_scale_then_stops(tmp_path):
    with FakeExporter() as exporter, FakeKubeAPI(replicas=1) as api:
        exporter.serve(fixture("gpu-pod-exporter.prom"))
        api.faults.append(Fault("PATCH", "/scale$", delay_seconds=1.0, then_serve=True))
        env = {**os.environ, **base_env(api.kubeconfig(tmp_path / "kubeconfig", namespace="tts"), exporter.url), "GATE_FLOOR": "9GiB"}
        env.pop("GATE_OUTPUT")
        process = subprocess.Popen(
            [sys.executable, "-m", "gate", "guard", "--watch", "--interval", "5s", "--metrics-port", "0"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30  # a cold interpreter on a loaded 2-core CI machine
            while not api.calls("PATCH") and time.monotonic() < deadline:
                time.sleep(0.02)
            assert api.calls("PATCH"), "the guard never started scaling down"
            process.send_signal(signal.SIGTERM)  # the PATCH is still in flight (1 s)
            _, stderr = process.communicate(timeout=10)
        finally:
            process.kill()
        assert process.returncode == 0
        assert api.replicas() == 0
        log = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        assert log[-1]["reason"] == "no-room" and log[-1]["replicas_after"] == 0
        assert stderr.rstrip().endswith("gate: guard --watch stopped")


# -- the document ---------------------------------------------------------------------------------


def test_docs_faults_md_is_generated_from_these_tests():
    assert (ROOT / "docs" / "faults.md").read_text() == render(), "run: python tests/faults.py > docs/faults.md"


def test_every_attack_names_tests_that_exist():
    import ast

    for attack in ATTACKS:
        for test in attack.tests:
            module, name = test.split("::")
            tree = ast.parse((ROOT / "tests" / module).read_text())
            assert name in {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}, test


def test_every_command_and_fault_is_a_cell():
    document = render()
    for fault in EXPORTER_FAULTS + API_FAULTS + SETTINGS_FAULTS:
        assert f"| {fault.name} |" in document
    assert all(command in document for command in COMMANDS)
    assert isinstance(Answer(), Answer)


# -- parking --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", PARK_COMMANDS)
@pytest.mark.parametrize("fault", PARK_FAULTS, ids=[f.name for f in PARK_FAULTS])
def test_park_faults(fault, command, tmp_path):
    """One iteration of the controller or the sidecar, parking on: the fault's cell, the server
    scaled to 0 in it (the Deployment's replicas at the API double), the Lease's record, and the
    control token never printed."""
    with FakeExporter() as exporter, FakeKubeAPI(replicas=1) as api, FakeControlPort() as port:
        exporter.serve(fault.reading)
        api.set_state(fault.annotations)
        fault.arrange(port)
        token = tmp_path / "control-token"
        token.write_text(f"{FakeControlPort().token}\n")
        env = {
            **base_env(api.kubeconfig(tmp_path / "kubeconfig", namespace="tts"), exporter.url),
            "GATE_PARK": "true",
            "GATE_PARK_TIMEOUT": "0.5s",
            "GATE_CONTROL_URL": fault.url or port.base_url,
            "GATE_CONTROL_TOKEN_FILE": str(token),
        }
        args = {"run": ["run"], "guard --watch": ["guard", "--watch"]}[command]
        result = CliRunner().invoke(app, [*args, "--interval", "1s", "--iterations", "1", "--metrics-port", "0"], env=env)
        expected = fault.expected[command]
        check(command, result, api, expected, fault.sidecar_cause if command != "run" and fault.sidecar_cause else fault.cause)
        assert "c0ntrol" not in result.stdout + result.stderr
        state = api.state()
        if expected.replicas == 0:
            assert "tts.gate/parked-at" not in state
            assert state.get("tts.gate/park-failures") == "1"  # every one of these is a failed park
        elif expected.decision == "parked":
            assert state["tts.gate/parked-at"] == NIGHT and port.calls("/park") == 1
