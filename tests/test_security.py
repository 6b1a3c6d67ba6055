"""Security: a real policy scanner over the rendered manifests, and the token kept out of every
output. (Every pod restricted: tests/test_chart.py; RBAC without wildcards: there too.)"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import made_once
from helm import CHART, render
from typer.testing import CliRunner

from gate.cli import app
from gate.kube.client import KubeClient

ROOT = CHART.parent
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
CHECKOV = str(ROOT / os.environ.get("CHECKOV", ".venv-scan/bin/checkov"))  # relative to the repository


# Beside the ci scenarios: two cards on one node, each server's GPU pinned through DRA (its API
# is Kubernetes 1.34's, which the ci scenarios' oldest Kubernetes has not).
DRA = {
    "gate": {"source": "dcgm", "metricsUrl": "http://nvidia-dcgm-exporter.gpu-operator.svc:9400/metrics", "total": ""},
    "dra": {"enabled": True},
    "cards": {
        "gpu-0": {"node": "gpu-node-a", "device": "GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a"},
        "gpu-1": {"node": "gpu-node-a", "device": "GPU-7e6d1bd6-85e8-4241-57a2-fa4fe68a570b"},
    },
}
RENDERS = [(p.name, yaml.safe_load(p.read_text()) or {}, "1.27") for p in SCENARIOS] + [("two cards on one node with DRA", DRA, "1.34")]


@pytest.fixture(scope="session")
def checkov_report(tmp_path_factory) -> dict:
    """One checkov run over every scenario's render, each in a folder of its own, for the whole
    run (conftest.made_once): checkov's start (loading its policies, ~5 s) is most of a run, so one
    run costs what one scenario did."""
    assert Path(CHECKOV).exists(), f"checkov is not installed at {CHECKOV}: `make test` installs it into .venv-scan"
    return made_once(tmp_path_factory, "checkov", lambda: run_checkov(tmp_path_factory.mktemp("checkov")))


def run_checkov(root: Path) -> dict:
    for index, (_, values, kube) in enumerate(RENDERS):
        folder = root / f"scenario-{index}"
        folder.mkdir()
        for path, text in render(values, kube_version=kube).items():
            if not path.endswith("NOTES.txt") and text.strip():
                (folder / path.replace("/", "_")).write_text(text)
    result = subprocess.run(
        [CHECKOV, "-d", str(root), "--config-file", str(ROOT / ".checkov.yaml"), "-o", "json", "--skip-download"],
        capture_output=True,
        text=True,
        cwd=root,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    outcomes = ("passed", "failed")
    return {"checks": [c | {"outcome": outcome} for r in reports for outcome in outcomes for c in r["results"][f"{outcome}_checks"]]}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("index", range(len(RENDERS)), ids=[r[0] for r in RENDERS])
def test_checkov_finds_nothing_beyond_the_justified_skips(index, checkov_report):
    checks = [c for c in checkov_report["checks"] if c["file_path"].startswith(f"/scenario-{index}/")]
    assert [f"{c['check_id']} {c['resource']}" for c in checks if c["outcome"] == "failed"] == []
    assert sum(c["outcome"] == "passed" for c in checks) > 100


def test_every_skip_has_a_reason():
    text = (ROOT / ".checkov.yaml").read_text().splitlines()
    skips = [i for i, line in enumerate(text) if line.strip().startswith("- CKV")]
    assert skips
    for index in skips:
        assert text[index - 1].strip().startswith(("#", "- CKV")), f"no reason above {text[index].strip()}"


def test_an_internal_error_at_debug_level_prints_no_token(monkeypatch, tmp_path, kubeapi, exporter):
    """A library error that quotes the request's Authorization header, as some do: the token
    must not reach the one-line error nor the --debug traceback."""
    from exporter import fixture

    exporter.serve(fixture("gpu-pod-exporter.prom"))

    def explode(self, method, path, what, *args, **kwargs):
        raise RuntimeError(f"unexpected answer to {what}; request headers: {{'Authorization': 'Bearer {self.config.bearer_token()}'}}")

    monkeypatch.setattr(KubeClient, "_once", explode)
    env = {
        "KUBECONFIG": kubeapi.kubeconfig(tmp_path / "kubeconfig", namespace="tts"),
        "GATE_METRICS_URL": exporter.url,
        "GATE_TOTAL": "15360MiB",
        "GATE_DEBUG": "1",
        "GATE_OUTPUT": "json",
    }
    result = CliRunner().invoke(app, ["preflight"], env=env)
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "Bearer <redacted>" in result.stderr  # --debug shows it, redacted
    assert kubeapi.token not in result.stdout + result.stderr


def test_a_service_account_jwt_is_redacted_wherever_it_appears():
    from gate.cli import redact

    jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    assert jwt not in redact(f"token={jwt} failed")
    assert redact("Authorization: Bearer abc.def-ghi") == "Authorization: Bearer <redacted>"
    assert redact("connection refused") == "connection refused"
