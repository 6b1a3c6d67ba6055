"""The server pod's own commands, rendered by the real Helm engine and then run: the startup probe
against a loopback server that answers loaded on the GPU, loaded on the CPU (with and without
server.allowCpu) or not loaded, refuses or hangs; the data
initContainer's script with sh against scratch folders; and the NetworkPolicy read the way the
API server reads it, for the pods that must and must not reach the server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exporter import Answer, FakeExporter
from helm import documents, one, render
from loopback import unused_port


def server_container(values: dict[str, Any], name: str = "server") -> dict[str, Any]:
    spec = one(documents(render(values)), "Deployment", "chatterbox-tts")["spec"]["template"]["spec"]
    containers = spec.get("initContainers", []) + spec["containers"]
    return next(c for c in containers if c["name"] == name)


# -- the startup probe ---------------------------------------------------------------------------


def run_startup_probe(port: int, allow_cpu: bool = False) -> tuple[subprocess.CompletedProcess, float]:
    """The exact command the kubelet would exec, rendered for a server on `port`."""
    probe = server_container({"server": {"allowCpu": allow_cpu, "config": {"server": {"port": port}}}})["startupProbe"]
    assert set(probe) >= {"exec", "timeoutSeconds"} and "httpGet" not in probe
    started = time.monotonic()
    # The kubelet's own limit is timeoutSeconds; the command must give up before it.
    result = subprocess.run(probe["exec"]["command"], capture_output=True, text=True, timeout=probe["timeoutSeconds"] + 5)
    return result, time.monotonic() - started


def model_info(loaded: bool, device: str | None = "cuda") -> Answer:
    """/api/model-info as the pinned server answers it (engine.get_model_info: `device` is the
    resolved "cuda", "mps" or "cpu", None before any load)."""
    info = {"loaded": loaded, "type": "multilingual", "class_name": "ChatterboxMultilingualTTS", "device": device, "sample_rate": 24000}
    return Answer(json.dumps(info).encode(), content_type="application/json")


def probe_answer(info: Answer, allow_cpu: bool = False) -> subprocess.CompletedProcess:
    with FakeExporter() as server:
        server.answers["/api/model-info"] = info
        result, _ = run_startup_probe(server.port, allow_cpu)
    return result


@pytest.mark.parametrize("allow_cpu", [False, True], ids=["gpu-only", "allowCpu"])
def test_startup_probe_passes_when_the_model_is_loaded_on_the_gpu(allow_cpu):
    result = probe_answer(model_info(True, "cuda"), allow_cpu)
    assert result.returncode == 0, result.stderr
    result = probe_answer(model_info(True, "cuda:0"), allow_cpu)
    assert result.returncode == 0, result.stderr


def test_startup_probe_fails_a_model_loaded_on_the_cpu_and_says_so():
    """The server's CUDA test failed and it loaded on the CPU anyway: ~100x slower, so not started.
    What the command prints is what the kubelet records in the pod's Event."""
    result = probe_answer(model_info(True, "cpu"))
    assert result.returncode != 0
    assert result.stderr.strip() == "model loaded on cpu, not on the GPU: CUDA failed at load; set server.allowCpu to accept a CPU"


def test_startup_probe_accepts_the_cpu_only_with_allow_cpu():
    assert probe_answer(model_info(True, "cpu"), allow_cpu=True).returncode == 0
    # allowCpu accepts a CPU, not anything that is not CUDA.
    other = probe_answer(model_info(True, "mps"), allow_cpu=True)
    assert other.returncode != 0
    assert other.stderr.strip() == "model loaded on mps, not on the GPU: CUDA failed at load"


@pytest.mark.parametrize("allow_cpu", [False, True], ids=["gpu-only", "allowCpu"])
def test_startup_probe_fails_when_the_server_runs_without_a_model(allow_cpu):
    """A failed load binds the port anyway and answers 200 {"loaded": false, "device": null}."""
    result = probe_answer(model_info(False, None), allow_cpu)
    assert result.returncode != 0
    assert result.stderr.startswith("model not loaded: ")
    # A device alone is not a model: the pinned server resolves it before it loads.
    assert probe_answer(model_info(False, "cuda"), allow_cpu).returncode != 0


def test_startup_probe_fails_while_the_port_is_closed():
    result, _ = run_startup_probe(unused_port())  # closed before the probe runs: connection refused
    assert result.returncode != 0
    assert "Connection refused" in result.stderr


def test_startup_probe_gives_up_before_the_kubelet_does():
    with FakeExporter() as server:
        server.answers["/api/model-info"] = Answer(b'{"loaded": true}', delay_seconds=8)
        result, took = run_startup_probe(server.port)
    assert result.returncode != 0
    assert took < 5, f"the probe took {took:.1f}s, past the kubelet's timeoutSeconds"


def test_the_grace_ends_inside_the_release_the_replay_assumes():
    """The entrypoint stops the server at once; the grace bounds one that does not stop, and the
    replay's --tts-release (replicas 0 to memory freed) must not assume a faster give-back."""
    from gate import defaults
    from gate.units import parse_duration

    spec = one(documents(render({})), "Deployment", "chatterbox-tts")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] <= parse_duration(defaults.TTS_RELEASE)


def test_readiness_and_liveness_stay_tcp():
    server = server_container({})
    assert server["readinessProbe"]["tcpSocket"] == {"port": "http"}
    assert server["livenessProbe"]["tcpSocket"] == {"port": "http"}


# -- helm test's synthesis ---------------------------------------------------------------------------

HELM_TEST_TIMEOUT = 300  # `helm test`'s own --timeout when none is given (5m)


def test_the_helm_test_synthesis_ends_inside_helms_own_timeout():
    """Helm gives up on the test pod at its --timeout and reports a bare timeout; the check's own
    limit must come first, with room for the pod's start and the metrics and RBAC checks."""
    import typer.main

    from gate import cli
    from gate.units import parse_duration

    objects = documents(render({}))
    test_pod = one(objects, "Pod")
    env = {e["name"]: e.get("value") for e in test_pod["spec"]["containers"][0]["env"]}
    check = typer.main.get_command(cli.app).commands["check"]  # type: ignore[attr-defined]
    cli_default = next(p.default for p in check.params if p.name == "synth_timeout")
    assert env["GATE_SYNTH_TIMEOUT"] == cli_default  # the chart's value is the gate's own default
    assert parse_duration(cli_default) <= HELM_TEST_TIMEOUT - 60
    longer = one(documents(render({"testFramework": {"synthTimeout": "9m"}})), "Pod")
    assert {"name": "GATE_SYNTH_TIMEOUT", "value": "9m"} in longer["spec"]["containers"][0]["env"]


# -- the data initContainer -----------------------------------------------------------------------


def wav(seed: int) -> bytes:
    data = bytes([seed]) * 64
    return b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt " + bytes(16) + b"data" + len(data).to_bytes(4, "little") + data


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """The image's bundled folders as upstream ships them (Gianna in both), and an empty claim."""
    app, data = tmp_path / "app", tmp_path / "data"
    (app / "voices").mkdir(parents=True)
    (app / "reference_audio").mkdir()
    (app / "voices" / "Emily.wav").write_bytes(wav(1))
    (app / "voices" / "Gianna.wav").write_bytes(wav(2))
    (app / "voices" / "Olivia.mp3").write_bytes(b"ID3" + bytes(32))
    (app / "reference_audio" / "Gianna.wav").write_bytes(wav(3))
    (app / "reference_audio" / "Robert.wav").write_bytes(wav(4))
    data.mkdir()
    return {"app": app, "data": data, "reference": data / "reference_audio"}


def run_data_init(layout: dict[str, Path]) -> subprocess.CompletedProcess:
    """The rendered script under sh, with the rendered environment's image paths moved to scratch."""
    container = server_container({"server": {"config": {"tts_engine": {"reference_audio_path": str(layout["reference"])}}}}, "prepare-data")
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["DATA_DIR"] == "/data" and env["REFERENCE_AUDIO_DIR"] == str(layout["reference"])
    app = str(layout["app"])
    env = {name: value.replace("/app/", f"{app}/") for name, value in env.items()}
    env["DATA_DIR"] = str(layout["data"])
    command = container["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    return subprocess.run(["sh", "-c", command[2]], env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True, timeout=30)


def test_data_init_creates_the_folders_and_bare_name_copies(layout):
    result = run_data_init(layout)
    assert result.returncode == 0, result.stderr
    data, reference, app = layout["data"], layout["reference"], layout["app"]
    assert all((data / sub).is_dir() for sub in ("hf_cache", "model_cache", "reference_audio"))
    assert sorted(p.name for p in reference.iterdir()) == ["Emily", "Gianna", "Gianna.wav", "Olivia", "Robert", "Robert.wav"]
    for path in reference.iterdir():
        assert path.is_file() and not path.is_symlink(), path  # symlinks fail the server's containment check
    assert (reference / "Emily").read_bytes() == (app / "voices" / "Emily.wav").read_bytes()
    # The predefined folder wins in the server's lookup, so the bare name follows it too.
    assert (reference / "Gianna").read_bytes() == (app / "voices" / "Gianna.wav").read_bytes()
    assert (reference / "Gianna.wav").read_bytes() == (app / "reference_audio" / "Gianna.wav").read_bytes()
    assert (reference / "Robert.wav").read_bytes() == (reference / "Robert").read_bytes() == wav(4)


def test_data_init_is_idempotent_and_keeps_operators_files(layout):
    reference = layout["reference"]
    reference.mkdir()
    (reference / "Emily").write_bytes(b"the operator's own Emily")
    (reference / "narrator.wav").write_bytes(wav(9))
    first = run_data_init(layout)
    assert first.returncode == 0, first.stderr
    after_first = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in reference.iterdir()}
    second = run_data_init(layout)
    assert second.returncode == 0, second.stderr
    after_second = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in reference.iterdir()}
    assert after_second == after_first  # nothing rewritten, nothing left behind
    assert (reference / "Emily").read_bytes() == b"the operator's own Emily"
    assert (reference / "narrator.wav").read_bytes() == wav(9)
    assert not [p for p in reference.iterdir() if p.name.startswith(".")]


def test_data_init_fails_the_pod_when_it_cannot_prepare_data(layout):
    """A volume it cannot write (here: the claim's path is a file, which stops root too) fails the
    initContainer, so the server never starts on a half-prepared /data."""
    layout["data"].rmdir()
    layout["data"].write_text("not a folder")
    result = run_data_init(layout)
    assert result.returncode != 0
    assert "mkdir" in result.stderr


def test_data_init_runs_restricted_in_the_server_image_with_only_data():
    container = server_container({}, "prepare-data")
    server = server_container({})
    assert container["image"] == server["image"]
    assert container["securityContext"] == server["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]


def test_data_init_can_be_turned_off():
    spec = one(documents(render({"server": {"dataInit": {"enabled": False}}})), "Deployment", "chatterbox-tts")["spec"]["template"]["spec"]
    assert "initContainers" not in spec


# -- the NetworkPolicy, read as the API server reads it ---------------------------------------------


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels", "matchExpressions"}, f"this reader knows matchLabels and matchExpressions: {selector}"
    expressions = selector.get("matchExpressions") or []
    assert all(e["operator"] == "In" for e in expressions), f"this reader knows the In operator only: {expressions}"
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()) and all(
        labels.get(e["key"]) in e["values"] for e in expressions
    )


def admitted(policy: dict[str, Any], port: str, namespace: str, labels: dict[str, str]) -> bool:
    """Whether a pod in `namespace` with `labels` may open `port` on the server (same rules as
    networking.k8s.io/v1: a peer with only podSelector means the policy's own namespace)."""
    own = policy["metadata"]["namespace"]
    for rule in policy["spec"].get("ingress", []):
        if not any(p["port"] == port for p in rule.get("ports", [])):
            continue
        for peer in rule.get("from", []):
            in_namespace = (
                selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace})
                if "namespaceSelector" in peer
                else namespace == own
            )
            if in_namespace and ("podSelector" not in peer or selects(peer["podSelector"], labels)):
                return True
    return False


def test_the_policy_is_on_by_default_and_admits_only_whom_it_should():
    objects = documents(render({}))
    policy = one(objects, "NetworkPolicy", "chatterbox-tts")
    server_labels = one(objects, "Deployment", "chatterbox-tts")["spec"]["template"]["metadata"]["labels"]
    assert selects(policy["spec"]["podSelector"], server_labels)
    test_pod = one(objects, "Pod")["metadata"]["labels"]
    anyone = {"app": "web"}
    assert admitted(policy, "http", "tts", test_pod)  # helm test
    assert admitted(policy, "http", "tripit", anyone)
    assert not admitted(policy, "http", "tts", anyone)  # another app in the namespace
    assert not admitted(policy, "http", "default", anyone)
    assert not admitted(policy, "http", "other", test_pod)  # the same labels elsewhere
    assert not admitted(policy, "http", "monitoring", anyone)
    assert admitted(policy, "gate-metrics", "monitoring", anyone)
    assert not admitted(policy, "gate-metrics", "tripit", anyone)


def test_the_control_port_admits_the_gates_pods_only_and_the_server_metrics_the_monitoring_namespace():
    objects = documents(render({}))
    policy = one(objects, "NetworkPolicy", "chatterbox-tts")
    gate_pods = [
        one(objects, "Deployment", "tts-gate")["spec"]["template"]["metadata"]["labels"],
        *(o["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"] for o in objects if o["kind"] == "CronJob"),
    ]
    components = {labels["app.kubernetes.io/component"] for labels in gate_pods}
    assert {"gate-controller", "gate-guard", "gate-window-up", "gate-window-down"} <= components
    for labels in gate_pods:
        admitted_here = admitted(policy, "control", "tts", labels)
        # Only the controller parks from another pod: the CronJobs never park (a one-shot run
        # cannot watch a park), and the sidecar calls over loopback.
        assert admitted_here == (labels["app.kubernetes.io/component"] == "gate-controller"), labels
        assert not admitted(policy, "control", "other", labels)
    assert not admitted(policy, "control", "tts", one(objects, "Pod")["metadata"]["labels"])  # helm test
    assert not admitted(policy, "control", "tripit", {}) and not admitted(policy, "control", "monitoring", {})
    assert admitted(policy, "server-metrics", "monitoring", {}) and not admitted(policy, "server-metrics", "tripit", {})
    alone = one(documents(render({"networkPolicy": {"monitoringNamespace": ""}})), "NetworkPolicy", "chatterbox-tts")
    assert not admitted(alone, "server-metrics", "monitoring", {}) and admitted(alone, "control", "tts", gate_pods[0])


def test_the_server_gets_the_control_token_as_a_file_and_its_ports_and_settings():
    server = server_container({})
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert ports == {"http": 8004, "control": 8005, "server-metrics": 9403}
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["TTS_CONTROL_TOKEN_FILE"] == "/var/run/secrets/tts-control/token"
    assert (env["TTS_CONTROL_PORT"], env["TTS_METRICS_PORT"], env["TTS_PARK_PIN"]) == ("8005", "9403", "true")
    assert {"name": "control-token", "mountPath": "/var/run/secrets/tts-control", "readOnly": True} in server["volumeMounts"]
    assert not [e for e in server["env"] if "valueFrom" in e]  # the token is never in the pod spec


def test_a_memory_limit_that_cannot_hold_a_parked_model_is_refused():
    with pytest.raises(
        Exception,
        match="server.resources.limits.memory 9Gi cannot hold a parked model: it must be at least requests.memory 6Gi "
        "plus server.control.parkedHostMemory 3584Mi",
    ):
        render({"server": {"resources": {"limits": {"memory": "9Gi"}}}})
    assert server_container({"server": {"resources": {"limits": {"memory": "9728Mi"}}}})  # 6Gi + 3584Mi exactly


def test_another_client_namespace_and_monitoring_come_from_values():
    policy = one(
        documents(render({"networkPolicy": {"clientNamespaces": ["tripit", "narration"], "monitoringNamespace": "prometheus"}})),
        "NetworkPolicy",
        "chatterbox-tts",
    )
    assert admitted(policy, "http", "narration", {}) and admitted(policy, "http", "tripit", {})
    assert admitted(policy, "gate-metrics", "prometheus", {}) and not admitted(policy, "gate-metrics", "monitoring", {})
    none = one(documents(render({"networkPolicy": {"clientNamespaces": [], "monitoringNamespace": ""}})), "NetworkPolicy", "chatterbox-tts")
    assert not admitted(none, "http", "tripit", {}) and not admitted(none, "gate-metrics", "monitoring", {})


# -- the image's own scripts ------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


ENTRYPOINT = ROOT / "docker" / "chatterbox-entrypoint.sh"
SERVER_UID = 10001  # the image's user


def run_entrypoint(tmp_path: Path, env: dict[str, str], as_server: bool = False) -> subprocess.CompletedProcess:
    command = ["sh", str(ENTRYPOINT), "sh", "-c", 'printf %s "${HF_TOKEN:-}"']
    if as_server:
        command = ["setpriv", f"--reuid={SERVER_UID}", f"--regid={SERVER_UID}", "--clear-groups", *command]
    return subprocess.run(command, cwd=tmp_path, env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True, timeout=10)


def test_entrypoint_hands_the_mounted_token_to_turbo_as_hf_token(tmp_path):
    """chatterbox's Turbo reads HF_TOKEN only; the chart mounts the token as a file (HF_TOKEN_PATH)."""
    token = tmp_path / "token"
    token.write_text("hf_from_the_secret\n")
    assert run_entrypoint(tmp_path, {"HF_TOKEN_PATH": str(token)}).stdout == "hf_from_the_secret"
    assert run_entrypoint(tmp_path, {"HF_TOKEN_PATH": str(token), "HF_TOKEN": "hf_explicit"}).stdout == "hf_explicit"
    assert run_entrypoint(tmp_path, {"HF_TOKEN_PATH": str(tmp_path / "absent")}).stdout == ""
    assert run_entrypoint(tmp_path, {}).returncode == 0


def test_entrypoint_copies_the_charts_config_into_the_working_directory(tmp_path):
    config = tmp_path / "chart-config.yaml"
    config.write_text("server:\n  port: 8004\n")
    work = tmp_path / "work"
    work.mkdir()
    assert run_entrypoint(work, {"CHATTERBOX_CONFIG_FILE": str(config)}).returncode == 0
    assert (work / "config.yaml").read_text() == config.read_text()


@pytest.fixture
def server_home() -> Iterator[Path]:
    """A scratch folder the server's uid owns. Root writes through a read-only file's mode bits and
    would hide the failure, so under root the entrypoint runs as the image's user (setpriv)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the entrypoint as the image's user")
    home = Path(tempfile.mkdtemp(prefix="entrypoint-"))
    os.chown(home, SERVER_UID, SERVER_UID)
    try:
        yield home
    finally:
        shutil.rmtree(home)


def test_entrypoint_replaces_a_read_only_copy_on_a_container_restart(server_home):
    """A restarted container keeps its working directory (an emptyDir) and finds the copy the
    last start made; from a ConfigMap file mounted 0444, a plain `cp` made that copy read-only, so
    the next `cp` failed and the container never started again."""
    source = server_home / "chart-config.yaml"
    source.write_text("model:\n  repo_id: chatterbox-multilingual\n")
    source.chmod(0o444)
    work = server_home / "work"
    work.mkdir()
    os.chown(work, SERVER_UID, SERVER_UID)
    env = {"CHATTERBOX_CONFIG_FILE": str(source)}
    first = run_entrypoint(work, env, as_server=True)
    assert first.returncode == 0, first.stderr
    copy = work / "config.yaml"
    assert copy.read_text() == source.read_text()
    assert copy.stat().st_mode & 0o200, "the server's settings UI rewrites this copy: it must be writable"
    # What a plain `cp` of a 0444 source leaves (an image before this fix, or the first start).
    copy.chmod(0o444)
    source.chmod(0o644)
    source.write_text("model:\n  repo_id: chatterbox-turbo\n")
    source.chmod(0o444)
    second = run_entrypoint(work, env, as_server=True)
    assert second.returncode == 0, second.stderr
    assert copy.read_text() == "model:\n  repo_id: chatterbox-turbo\n"
    assert copy.stat().st_mode & 0o200
    assert sorted(p.name for p in work.iterdir()) == ["config.yaml"]  # nothing left behind


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def test_entrypoint_stops_the_server_at_once_on_sigterm(tmp_path):
    """uvicorn's graceful shutdown waits for the open requests while a synthesis blocks its loop:
    the kubelet's SIGTERM must not wait for it. Here the "server" ignores SIGTERM, as a busy one
    does, and has a child of its own: both are gone when the entrypoint exits, and it says 143."""
    pids = tmp_path / "pids"
    server = f'trap "" TERM; sleep 600 & echo "$$ $!" > {pids}.tmp; mv {pids}.tmp {pids}; wait'
    entrypoint = subprocess.Popen(["sh", str(ENTRYPOINT), "sh", "-c", server], env={"PATH": os.environ["PATH"]})
    started: list[int] = []
    try:
        for _ in range(500):
            if pids.exists() or entrypoint.poll() is not None:
                break
            time.sleep(0.02)
        started = [int(p) for p in pids.read_text().split()]
        entrypoint.send_signal(signal.SIGTERM)
        # Only a bound, so that a broken entrypoint fails the test instead of hanging it.
        status = entrypoint.wait(timeout=30)
        for _ in range(500):  # the killed child's reaper (whoever adopted it) may take a moment
            if all(gone(pid) for pid in started):
                break
            time.sleep(0.02)
        left = [pid for pid in started if not gone(pid)]
    finally:
        entrypoint.kill()
        for pid in started:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
    assert status == 143
    assert left == [], "the server and its child must die with the entrypoint"


def test_entrypoint_passes_the_servers_own_exit_status_on(tmp_path):
    result = subprocess.run(["sh", str(ENTRYPOINT), "sh", "-c", "exit 3"], env={"PATH": os.environ["PATH"]}, timeout=10)
    assert result.returncode == 3


def perth_check() -> str:
    """The `python3 -c` the image build runs to refuse a perth without its watermarker."""
    text = (ROOT / "Dockerfile.cu128").read_text()
    checks = [line for line in text.splitlines() if line.startswith('RUN python3 -c "import perth')]
    assert len(checks) == 1, "Dockerfile.cu128 must check perth's watermarker once"
    return checks[0].removeprefix('RUN python3 -c "').removesuffix('"')


@pytest.mark.parametrize("pkg_resources", [True, False], ids=["setuptools<82", "setuptools>=82"])
def test_the_build_fails_when_perth_loses_its_watermarker(tmp_path, pkg_resources):
    """perth as resemble-perth 1.0.1 lays it out: its __init__ turns a failed import of the
    watermarker (perth_net needs pkg_resources) into None."""
    package = tmp_path / "perth"
    implicit = package / "perth_net" / "perth_net_implicit"
    implicit.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "try:\n    from .perth_net.perth_net_implicit.perth_watermarker import PerthImplicitWatermarker\n"
        "except ImportError:\n    PerthImplicitWatermarker = None\n"
    )
    (package / "perth_net" / "__init__.py").write_text("from pkg_resources_stub import resource_filename\n")
    (implicit / "__init__.py").write_text("")
    (implicit / "perth_watermarker.py").write_text("class PerthImplicitWatermarker:\n    pass\n")
    if pkg_resources:
        (tmp_path / "pkg_resources_stub.py").write_text("def resource_filename(*args):\n    return ''\n")
    result = subprocess.run(
        ["python3", "-c", perth_check()], env={"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True
    )
    if pkg_resources:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert "No module named 'pkg_resources_stub'" in result.stderr  # the cause, not just "None"
