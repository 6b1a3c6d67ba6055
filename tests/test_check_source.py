"""`helm test` on a fresh install: when the gate cannot read its memory source, the one failure
line names the URL it read, in full, so the value to fix (gate.metricsUrl, gate.device.url) is
plain without reading the chart."""

from __future__ import annotations

from loopback import unused_port
from typer.testing import CliRunner

from gate.cli import app
from gate.status import ExitStatus


def gate(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env)


def closed_url() -> str:
    return f"http://127.0.0.1:{unused_port()}/metrics"  # a connect is refused


def test_a_refused_source_fails_check_with_its_url_in_the_one_line(env, kubeapi):
    url = closed_url()
    result = gate({**env, "GATE_METRICS_URL": url}, "check")
    assert result.exit_code == ExitStatus.METRICS
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("gate: check failed: metrics: ") and "connection refused" in line
    assert line.endswith(f"(reading gpu-pod-exporter at {url})")


def test_a_refused_device_source_is_named_beside_the_per_pod_one(env, kubeapi, exporter):
    url = closed_url()
    result = gate({**env, "GATE_DEVICE_SOURCE": "dcgm", "GATE_DEVICE_URL": url}, "check")
    assert result.exit_code == ExitStatus.METRICS
    [line] = result.stderr.strip().splitlines()
    assert "device source dcgm" in line
    assert line.endswith(f"(reading gpu-pod-exporter at {exporter.url}; dcgm at {url})")


def test_a_readable_source_passes_without_the_urls(env, kubeapi):
    result = gate(env, "check")
    assert result.exit_code == ExitStatus.OK, result.stderr
    assert "reading" not in result.stdout
