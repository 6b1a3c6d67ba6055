"""One settings document: gate/settings.py's table is the one definition; `load` validates the
whole file before anything uses it; flag > variable > file > default; the chart renders the
document once into a ConfigMap, refuses what the gate refuses in one line, and no settings value
changes the server's pod template; the loops re-read the file and keep the last good settings."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SHARED_OPTIONS
from gatedoc import assert_refused_at_render, document, sealed
from helm import CHART, documents, one, render
from helm_python.errors import HelmError
from typer.testing import CliRunner

from gate import policy
from gate import settings as gate_settings
from gate.cli import app
from gate.settings import BY_KEY, SETTINGS, Origin, load_text, resolve
from gate.status import ExitStatus
from gate.units import InvalidValue

ROOT = Path(__file__).resolve().parent.parent
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


# -- precedence: one function, one table ----------------------------------------------------------

PRECEDENCE = [
    # (flag, variable, file) -> the value and where it came from
    ("8GiB", "7GiB", "5GiB", "8GiB", Origin.FLAG),
    (None, "7GiB", "5GiB", "7GiB", Origin.VARIABLE),
    (None, None, "5GiB", "5GiB", Origin.FILE),
    (None, None, None, "6GiB", Origin.DEFAULT),
    ("8GiB", None, None, "8GiB", Origin.FLAG),
    ("8GiB", "7GiB", None, "8GiB", Origin.FLAG),
]


@pytest.mark.parametrize(("flag", "variable", "file", "value", "origin"), PRECEDENCE)
def test_flag_beats_variable_beats_file_beats_default(flag, variable, file, value, origin):
    """Through the command line itself (Click says where each value came from)."""
    args = ["check-config", "-", "--output", "json", *(["--floor", flag] if flag else [])]
    env = {"GATE_FLOOR": variable} if variable else {}
    result = CliRunner().invoke(app, args, input=document(**({"floor": file} if file else {})), env=env)
    assert result.exit_code == 0, result.output
    rows = {row["key"]: row for row in json.loads(result.stdout)["settings"]}
    assert (rows["floor"]["value"], rows["floor"]["from"]) == (value, origin.value)
    assert rows["window"]["from"] == "default"


def test_resolve_is_the_one_precedence():
    doc = load_text(document(floor="5GiB", window="22:00-04:00"), "gate.yaml")
    resolved = resolve({"floor": ("8GiB", Origin.FLAG), "window": ("any", Origin.VARIABLE)}, doc)
    assert (resolved.values["floor"], resolved.origins["floor"]) == ("8GiB", Origin.FLAG)
    assert (resolved.values["window"], resolved.origins["window"]) == ("any", Origin.VARIABLE)
    assert (resolved.values["cooldown"], resolved.origins["cooldown"]) == ("10s", Origin.DEFAULT)


# -- refusals: the gate's load and the chart's render, each in one line --------------------------

# (document / chart values under gate, the key named, words of the expectation)
REFUSED = [
    ({"floor": "6GB"}, "floor", "6GiB"),
    ({"floor": 6.5}, "floor", "a number"),
    ({"floor": "-6GiB"}, "floor", "6GiB"),
    ({"floor": "0GiB"}, "floor", "zero"),
    ({"window": "25:00-26:00"}, "window", "HH:MM-HH:MM"),
    ({"flor": "6GiB"}, "flor", "unknown"),
    ({"demand": {"uri": "http://q"}}, "demand.uri", "unknown"),
    ({"controller": {"interval": "0s"}}, "controller.interval", "10s"),
    ({"sidecar": {"interval": "0s"}}, "sidecar.interval", "10s"),
    ({"timeout": "0s"}, "timeout", "10s"),
    ({"total": ""}, "total", "no device total"),
    ({"source": "prometheus"}, "metricsUrl", "Prometheus base URL"),
    ({"enabled": "yes"}, "enabled", "true or false"),
]


@pytest.mark.parametrize(("values", "key", "expected"), REFUSED, ids=[f"{k}={v}" for v, k, _ in REFUSED])
def test_load_refuses_a_bad_document_in_one_line_naming_the_key(values, key, expected):
    with pytest.raises(InvalidValue) as error:
        load_text(sealed(yaml.safe_dump(values)), "gate.yaml")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"gate.yaml: {key}: "), message
    assert expected in message, message


@pytest.mark.parametrize(("values", "key", "expected"), REFUSED, ids=[f"{k}={v}" for v, k, _ in REFUSED])
def test_the_chart_refuses_at_render_what_load_refuses_naming_the_key(values, key, expected):
    """A value's own shape, choices and bound: values.schema.json, generated from the table,
    names its path (Helm lists every schema failure at once); what one value cannot say alone:
    the templates, in one line ending with the right form."""
    with pytest.raises(HelmError) as error:
        render({"gate": values})
    assert_refused_at_render(str(error.value), key)


def test_a_bad_file_at_start_is_exit_2_before_any_call(env, kubeapi, tmp_path):
    config = tmp_path / "gate.yaml"
    config.write_text(sealed("floor: 6GB\n"))
    result = CliRunner().invoke(app, ["preflight"], env={**env, "GATE_CONFIG": str(config)})
    assert result.exit_code == ExitStatus.USAGE
    assert result.stderr.strip().startswith(f"gate: {config}: floor: invalid size '6GB'")
    assert kubeapi.requests == []


# -- gate check-config on what the chart renders, through the real Helm engine --------------------


def helm_template(values: dict | None = None) -> str:
    rendered = render(values or {})
    return "\n---\n".join(text for path, text in sorted(rendered.items()) if not path.endswith("NOTES.txt"))


@pytest.mark.parametrize(
    "values",
    [{}, {"gate": {"window": "", "total": "", "source": "dcgm"}}, {"gate": {"demand": {"url": "http://tripit.tripit.svc:8080/q"}}}],
    ids=["defaults", "any-time-device-total", "demand"],
)
def test_check_config_passes_the_rendered_configmap(values):
    result = CliRunner().invoke(app, ["check-config", "-"], input=helm_template(values))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("-: valid (hash ")
    assert all(line.endswith("(file)") for line in result.stdout.splitlines()[1:])  # every key rendered


def test_check_config_of_a_bad_file_is_exit_2_and_one_line(tmp_path):
    config = tmp_path / "gate.yaml"
    config.write_text(sealed("window: 25:00-26:00\n"))
    result = CliRunner().invoke(app, ["check-config", str(config)])
    assert result.exit_code == ExitStatus.USAGE
    assert result.stderr.count("\n") == 1 and "window: invalid window '25:00-26:00'" in result.stderr


def test_the_rendered_document_holds_every_setting_and_only_those():
    text = one(documents(render({})), "ConfigMap", "tts-gate-config")["data"]["gate.yaml"]
    rendered = yaml.safe_load(text)
    assert set(gate_settings.flatten(rendered)) == {*BY_KEY, "apiVersion"}
    assert load_text(text, "rendered").values == {s.key: s.chart_value for s in SETTINGS}


# -- changing a setting never touches the server's pod template -----------------------------------

# A valid change of every value under gate in values.yaml (a new value needs a line here).
CHANGED: dict[str, Any] = {
    "enabled": False,
    "image.repository": "registry.example/tts-gate",
    "image.tag": "9.9.9",
    "image.digest": "sha256:" + "a" * 64,
    "image.pullPolicy": "Always",
    "source": "dcgm",
    "metricsUrl": "http://dcgm.gpu-operator.svc:9400/metrics",
    "floor": "7GiB",
    "total": "15000MiB",
    "window": "22:00-04:00",
    "timeZone": "UTC",
    "cooldown": "5m",
    "cooldownMax": "10m",
    "hysteresis": "1GiB",
    "maxAge": "3m",
    "emptyIsIdle": True,
    "device.source": {"source": "dcgm", "url": "http://dcgm.gpu-operator.svc:9400/metrics"},
    "device.url": "http://dcgm.gpu-operator.svc:9400/metrics",
    "startupGrace": "4m",
    "ownPeak": "5GiB",
    "card.node": "gpu-node-1",
    "card.device": "GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a",
    "timeout": "7s",
    "logFormat": "text",
    "entryMargin": "10m",
    "demand.url": "http://tripit.tripit.svc.cluster.local:8080/api/tour/tts-queue",
    "demand.field": "waiting",
    "demand.idleAfter": "10m",
    "demand.window": "07:00-23:00",
    "park.enabled": True,
    "park.residue": "1GiB",
    "park.maxParked": "30m",
    "park.timeout": "20s",
    "park.cooldown": "30s",
    "prometheus.query": "sum by (namespace, pod) (x)",
    "prometheus.upQuery": "max(up)",
    "prometheus.sampledQuery": "max(timestamp(up))",
    "prometheus.nodeLabel": "kubernetes_node",
    "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
    "resources.requests.cpu": "20m",
    "resources.requests.memory": "64Mi",
    "resources.limits.cpu": "300m",
    "resources.limits.memory": "128Mi",
    "podSecurityContext.runAsNonRoot": False,
    "podSecurityContext.runAsUser": 1000,
    "podSecurityContext.runAsGroup": 1000,
    "podSecurityContext.seccompProfile.type": "Unconfined",
    "containerSecurityContext.allowPrivilegeEscalation": True,
    "containerSecurityContext.readOnlyRootFilesystem": False,
    "containerSecurityContext.runAsNonRoot": False,
    "containerSecurityContext.capabilities.drop": ["NET_RAW"],
    "containerSecurityContext.seccompProfile.type": "Unconfined",
    "imagePullSecrets": [{"name": "gate-registry"}],
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Exists"}],
    "affinity": {"nodeAffinity": {}},
    "controller.enabled": False,
    "controller.interval": "15s",
    "controller.metricsPort": 9500,
    "controller.podAnnotations": {"a": "b"},
    "sidecar.enabled": False,
    "sidecar.interval": "5s",
    "sidecar.metricsPort": 9501,
    "sidecar.tokenExpirationSeconds": 7200,
    "cronJobs.windowUp.enabled": False,
    "cronJobs.guard.enabled": False,
    "cronJobs.windowDown.enabled": False,
    "cronJobs.startingDeadlineSeconds": 300,
    "cronJobs.activeDeadlineSeconds": 300,
    "cronJobs.successfulJobsHistoryLimit": 1,
    "cronJobs.failedJobsHistoryLimit": 1,
    "cronJobs.ttlSecondsAfterFinished": 3600,
}
# The values that shape the sidecar container itself, and so the pod it lives in: the only ones
# that may change the server's pod template (a change of these restarts the server, by nature).
SHAPES_THE_SIDECAR = {
    "image.repository": "the sidecar's image",
    "image.tag": "the sidecar's image",
    "image.digest": "the sidecar's image",
    "image.pullPolicy": "the sidecar's image pull policy",
    "extraEnv": "the sidecar's environment",
    "resources.requests.cpu": "the sidecar's resources",
    "resources.requests.memory": "the sidecar's resources",
    "resources.limits.cpu": "the sidecar's resources",
    "resources.limits.memory": "the sidecar's resources",
    "containerSecurityContext.allowPrivilegeEscalation": "the sidecar's securityContext",
    "containerSecurityContext.readOnlyRootFilesystem": "the sidecar's securityContext",
    "containerSecurityContext.runAsNonRoot": "the sidecar's securityContext",
    "containerSecurityContext.capabilities.drop": "the sidecar's securityContext",
    "containerSecurityContext.seccompProfile.type": "the sidecar's securityContext",
    "sidecar.enabled": "whether the server pod has a sidecar at all",
    "sidecar.metricsPort": "the sidecar's port, probes and the pod's scrape annotations",
    "sidecar.tokenExpirationSeconds": "the sidecar's projected token volume",
}


def leaves(values: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in values.items():
        if isinstance(value, dict) and value:
            keys.extend(leaves(value, f"{prefix}{key}."))
        else:
            keys.append(f"{prefix}{key}")
    return keys


# The gate's card shapes the server pod too: its node pins it (kubernetes.io/hostname); its GPU is
# pinned only through DRA (the ResourceClaimTemplate's selector, never the pod's template), and read
# only with a source that names GPUs, so a device is tried on such a base.
PINS_THE_SERVER = {"card.node": "the node the server is pinned to"}
DEVICE_BASE = {"gate": {"source": "dcgm", "metricsUrl": "http://dcgm.gpu-operator.svc:9400/metrics", "total": ""}, "dra": {"enabled": True}}


def server_template(values: dict, kube_version: str = "1.27") -> str:
    rendered = render(values, kube_version=kube_version)
    return yaml.safe_dump(one(documents(rendered), "Deployment", "chatterbox-tts")["spec"]["template"], sort_keys=True)


def test_every_value_under_gate_has_a_change_to_try():
    assert set(leaves(VALUES["gate"])) == set(CHANGED)


@pytest.mark.parametrize("key", sorted(CHANGED))
def test_changing_a_gate_value_leaves_the_server_pod_template_byte_identical(key):
    value = CHANGED[key]
    *parents, leaf = key.split(".")
    if key == "device.source":
        parents, leaf = [], "device"
    overrides: dict[str, Any] = {}
    node = overrides
    for parent in parents:
        node = node.setdefault(parent, {})
    node[leaf] = value
    if key == "card.device":
        changed = server_template({**DEVICE_BASE, "gate": {**DEVICE_BASE["gate"], **overrides}}, "1.34")
        unchanged = server_template(DEVICE_BASE, "1.34")
    else:
        changed, unchanged = server_template({"gate": overrides}), server_template({})
    if key in SHAPES_THE_SIDECAR or key in PINS_THE_SERVER:
        assert changed != unchanged, f"{key} is listed as shaping the server pod but changes nothing"
    else:
        assert changed == unchanged, key


# -- the loops re-read the file -------------------------------------------------------------------


class MountedConfigMap:
    """A directory as the kubelet keeps a mounted ConfigMap: gate.yaml -> ..data/gate.yaml, and
    an update is a new timestamped directory swapped in by renaming the ..data link."""

    def __init__(self, root: Path, text: str):
        self.root = root
        self.generation = 0
        root.mkdir(parents=True, exist_ok=True)
        self.write(text)
        (root / "gate.yaml").symlink_to("..data/gate.yaml")

    @property
    def path(self) -> Path:
        return self.root / "gate.yaml"

    def write(self, text: str) -> None:
        self.generation += 1
        data = self.root / f"..2026_11_12_{self.generation:04d}"
        data.mkdir()
        (data / "gate.yaml").write_text(text)
        link = self.root / "..data_tmp"
        link.symlink_to(data.name)
        os.replace(link, self.root / "..data")


def base_document(exporter_url: str, **settings: Any) -> str:
    return document(metricsUrl=exporter_url, total="15360MiB", window="02:00-06:00", timeZone="Europe/London", **settings)


def loop_env(env: dict[str, str], config: Path) -> dict[str, str]:
    """Only what says who and where; every setting from the file."""
    kept = {k: v for k, v in env.items() if k in ("KUBECONFIG", "GATE_NOW")}
    return {**kept, "GATE_CONFIG": str(config), "GATE_LOG_FORMAT": "json", "GATE_METRICS_ADDRESS": "127.0.0.1"}


def wait_for(condition, what: str, attempts: int = 400) -> None:
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> str:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
    except OSError:
        return ""


def decisions(stderr: str) -> list[tuple[str, str]]:
    """The loop's log, in order: ("reload", hash) / ("refused", "") / (command, reason)."""
    seen = []
    for line in stderr.splitlines():
        if "settings reloaded" in line:
            seen.append(("reload", line.rsplit("hash ", 1)[1].rstrip(")")))
        elif "settings refused" in line:
            seen.append(("refused", ""))
        elif line.startswith("{"):
            entry = json.loads(line)
            seen.append((entry["command"], entry["reason"]))
    return seen


@pytest.mark.parametrize("command", ["guard --watch", "run"])
def test_a_running_loop_takes_a_rewritten_file_on_its_next_iteration_and_keeps_a_bad_one_out(command, env, kubeapi, exporter, tmp_path):
    """The sidecar (holding the card, floor 6GiB: room) yields once the file says 9GiB; the
    controller (floor 9GiB: no room) enters once it says 6GiB. A bad file in between is refused:
    one line, an Event, gate_config_valid 0, and the last good floor stays."""
    holding = command == "guard --watch"
    if holding:
        kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    first, then = ("6GiB", "9GiB") if holding else ("9GiB", "6GiB")
    mount = MountedConfigMap(tmp_path / "gate-config", base_document(exporter.url, floor=first))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gate", *command.split(), "--metrics-port", str(port), "--interval", "0.1s"],
        env={**os.environ, **loop_env(env, mount.path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        wait_for(
            lambda: re.search(r'^gate_floor_bytes\{deployment="chatterbox-tts"\} (6\.442450944|9\.663676416)e\+09$', scrape(port), re.M),
            "a run",
        )
        assert kubeapi.replicas() == (1 if holding else 0)
        mount.write(sealed("floor: 6GB\n"))  # refused: the loop goes on with the floor it has
        wait_for(lambda: 'gate_config_valid{deployment="chatterbox-tts"} 0.0' in scrape(port), "the refusal")
        kept = float(gate_settings.parse({**gate_settings.defaults(), "floor": first}, {}, None).values["floor"])
        assert f'gate_floor_bytes{{deployment="chatterbox-tts"}} {kept:.9e}' in scrape(port)
        assert kubeapi.replicas() == (1 if holding else 0)
        assert [e["reason"] for e in kubeapi.events if e["reason"] == "ConfigRefused"] == ["ConfigRefused"]
        mount.write(base_document(exporter.url, floor=then))
        wait_for(lambda: kubeapi.replicas() == (0 if holding else 1), "the new floor's decision")
        assert 'gate_config_valid{deployment="chatterbox-tts"} 1.0' in scrape(port)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    seen = decisions(stderr)
    reload_at = next(i for i, item in enumerate(seen) if item[0] == "reload")
    assert ("refused", "") in seen[:reload_at]
    # The very next decision after the reload is the new floor's: no restart, one iteration.
    assert seen[reload_at + 1][1] == ("no-room" if holding else "entered"), seen


# -- pause: two switches, every command --------------------------------------------------------------


def gate(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_enabled_false_keeps_preflight_from_entering(env, kubeapi):
    result = gate({**env, "GATE_ENABLED": "false"}, "preflight")
    assert result.exit_code == ExitStatus.OK, result.output
    assert kubeapi.replicas() == 0
    assert "preflight: paused" in result.stdout and "enabled: false" in result.stdout


def test_a_paused_lease_keeps_preflight_out_and_makes_guard_yield(env, kubeapi):
    kubeapi.set_state({policy.PAUSED: "true"})
    result = gate(env, "preflight")
    assert (result.exit_code, kubeapi.replicas()) == (ExitStatus.OK, 0)
    assert "preflight: paused" in result.stdout and "gate pause" in result.stdout
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    kubeapi.set_state({policy.PAUSED: "true"})
    result = gate(env, "guard")
    assert (result.exit_code, kubeapi.replicas()) == (ExitStatus.OK, 0)
    assert "guard: paused (scaled 1 -> 0)" in result.stdout
    assert "tts.gate/yielded-at" not in kubeapi.state()  # a pause is no resident's wake: no cool-down


def test_pause_and_resume_set_and_clear_the_lease_switch_and_status_says_which(env, kubeapi):
    assert gate(env, "pause").exit_code == 0
    assert kubeapi.state()[policy.PAUSED] == "true"
    status = gate(env, "status")
    assert re.search(r"^paused +yes, by the Lease's tts.gate/paused annotation \(gate pause\)$", status.stdout, re.M), status.stdout
    both = gate({**env, "GATE_ENABLED": "false"}, "status", "-o", "json")
    assert json.loads(both.stdout)["paused_by"] == ["enabled: false in the settings", "the Lease's tts.gate/paused annotation (gate pause)"]
    assert gate(env, "preflight").stdout.split()[2] == "paused:"
    resumed = gate(env, "resume")
    assert resumed.exit_code == 0 and policy.PAUSED not in kubeapi.state()
    assert re.search(r"^paused +no$", gate(env, "status").stdout, re.M)
    assert gate(env, "preflight").stdout.split()[2] == "entered"


def test_the_controller_gives_the_card_back_when_the_lease_is_paused(env, kubeapi):
    kubeapi.add_deployment("tts", "chatterbox-tts", 1)
    kubeapi.set_state({policy.PAUSED: "true"})
    result = gate({**env, "GATE_LOG_FORMAT": "json"}, "run", "--interval", "0.02s", "--metrics-port", "0", "--iterations", "3")
    assert result.exit_code == 0, result.output
    assert kubeapi.replicas() == 0
    assert [json.loads(line)["reason"] for line in result.stderr.splitlines() if line.startswith("{")] == ["paused"]
    assert kubeapi.state()[policy.PAUSED] == "true"  # the gate's own writes never clear the switch


# -- replay: the same document, the switch replayed -------------------------------------------------

NIGHT = ROOT / "samples" / "nights" / "quiet.csv"


def replay(*args: str) -> list[dict]:
    result = CliRunner().invoke(app, ["replay", str(NIGHT), "--output", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_replay_with_the_rendered_document_is_replay_with_the_charts_defaults(tmp_path):
    rendered = one(documents(render({})), "ConfigMap", "tts-gate-config")["data"]["gate.yaml"]
    config = tmp_path / "gate.yaml"
    config.write_text(rendered)
    assert replay("--config", str(config)) == replay()
    config.write_text(gate_settings.seal(rendered.replace("floor: 6GiB", "floor: 9GiB")))
    assert replay("--config", str(config)) == replay("--floor", "9GiB")
    # Another window moves the CronJobs the replay fires, as it moves the chart's.
    moved = one(documents(render({"gate": {"window": "01:00-05:00"}})), "ConfigMap", "tts-gate-config")["data"]["gate.yaml"]
    config.write_text(moved)
    assert replay("--config", str(config)) == replay("--window", "01:00-05:00") != replay()


def test_replay_replays_a_pause_and_accepts_any_time(tmp_path):
    [night] = replay()
    [paused] = replay("--paused", "02:00-06:00")
    assert night["bake_seconds"] > 0 and paused["bake_seconds"] == 0
    assert paused["entries"] == 0
    [any_time] = replay("--window", "any")
    assert any_time["bake_seconds"] >= night["bake_seconds"]
    config = tmp_path / "gate.yaml"
    config.write_text(sealed("enabled: false\n"))
    [disabled] = replay("--config", str(config))
    assert disabled["entries"] == 0


def test_replays_floor_help_offers_only_what_it_takes():
    text = CliRunner().invoke(app, ["replay", "--help"], env={"COLUMNS": "300"}).stdout
    assert "--floor" in text and "6.5GB" not in text and "bytes)" not in text
    assert "--config" in text and "--paused" in text


def test_a_reload_that_meets_any_surprise_refuses_the_file_and_never_raises(tmp_path, monkeypatch):
    """Not UTF-8, or obtaining the options fails in a way nobody planned for: the loop must go on
    with its last good settings (fail closed is a property of the loop), so poll refuses, never
    raises. The loop asks the loader again (gate.options), never the command line."""
    from gate import options as gate_options

    path = tmp_path / "gate.yaml"
    path.write_text(sealed("floor: 6GiB\n"))
    req = gate_options.request(SHARED_OPTIONS, {})
    watch = gate_options.obtain(replace(req, config=str(path)), cluster_needed=False).watch
    assert watch is not None and watch.valid
    path.write_bytes(sealed("floor: 6GiB\n").encode().replace(b"6GiB", b"\xff\xfe"))
    refused = watch.poll()
    assert refused is not None and refused.options is None and "not UTF-8" in (refused.problem or "")

    def build(*args, **kwargs):
        raise RuntimeError("a bug in building the options")

    monkeypatch.setattr(gate_options, "build", build)
    path.write_text(sealed("floor: 7GiB\n"))
    surprise = watch.poll()
    assert surprise is not None and surprise.options is None and "RuntimeError: a bug" in (surprise.problem or "")
    assert watch.poll() is None  # the same file again: nothing new
