"""Least privilege, derived: run every command the chart runs against the kube-apiserver double,
turn the requests it saw into RBAC (group, resource, verb, name), and compare with the Role the
chart renders. A verb the gate uses and the Role lacks fails the gate at 02:00; a verb the Role
grants and nothing uses is a privilege a stolen token would have for nothing."""

from __future__ import annotations

import re

import pytest
from exporter import FakeExporter, fixture
from helm import documents, one, render
from kubeapi import FakeKubeAPI
from typer.testing import CliRunner

from gate.cli import app

VERBS = {"GET": "get", "PATCH": "patch", "PUT": "update", "POST": "create"}
PATHS = [
    (re.compile(r"^/apis/apps/v1/namespaces/[^/]+/deployments/([^/]+)/scale$"), "apps", "deployments/scale"),
    (re.compile(r"^/apis/apps/v1/namespaces/[^/]+/deployments/([^/]+)$"), "apps", "deployments"),
    (re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/[^/]+/leases/([^/]+)$"), "coordination.k8s.io", "leases"),
    (re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/[^/]+/leases()$"), "coordination.k8s.io", "leases"),
    (re.compile(r"^/api/v1/namespaces/[^/]+/events()$"), "", "events"),
]


def rbac_of(request: dict) -> tuple[str, str, str, str]:
    """(apiGroup, resource, verb, name) of one request; name "" for a collection (create)."""
    path = request["path"].split("?", 1)[0]
    for pattern, group, resource in PATHS:
        if match := pattern.match(path):
            return group, resource, VERBS[request["method"]], match.group(1)
    raise AssertionError(f"a request the test cannot map to RBAC: {request['method']} {path}")


# Every command as the chart runs it, from the states that make it use each call it has.
SCENARIOS = [
    ("preflight", 0, {}),  # enters: scale, creates the Lease, records an Event
    ("guard", 1, {"tts.gate/entered-at": "2026-11-12T02:00:00Z"}),  # yields: scale, updates the Lease
    ("down", 1, {"tts.gate/yielded-at": "2026-11-12T02:00:00Z"}),
    ("run", 0, {}),
    ("status", 0, {}),
    ("check", 0, {"tts.gate/room-since": "2026-11-12T02:00:00Z"}),  # dry runs of every write
    ("pause", 0, {"tts.gate/room-since": "2026-11-12T02:00:00Z"}),  # the Lease's switch, by update
    ("resume", 0, {"tts.gate/paused": "true"}),
]


@pytest.fixture(scope="module")
def used(tmp_path_factory) -> set[tuple[str, str, str, str]]:
    seen = set()
    for command, replicas, state in SCENARIOS:
        with FakeExporter() as exporter, FakeKubeAPI(replicas=replicas) as api:
            exporter.serve(fixture("gpu-pod-exporter.prom"))
            if state:
                api.set_state(state)
            env = {
                "KUBECONFIG": api.kubeconfig(tmp_path_factory.mktemp("k") / "kubeconfig", namespace="tts"),
                "GATE_METRICS_URL": exporter.url,
                "GATE_TOTAL": "15360MiB",
                "GATE_FLOOR": "9GiB" if command == "guard" else "6GiB",
                "GATE_NOW": "2026-11-12T02:30:00Z",
            }
            args = [command, "--iterations", "2", "--interval", "0.01s", "--metrics-port", "0"] if command == "run" else [command]
            result = CliRunner().invoke(app, args, env=env, catch_exceptions=False)
            assert result.exit_code == 0, (command, result.output)
            seen |= {rbac_of(r) for r in api.requests}
    return seen


def granted(values: dict | None = None) -> set[tuple[str, str, str, str]]:
    role = one(documents(render(values)), "Role")
    rules = set()
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    for name in rule.get("resourceNames") or [""]:
                        rules.add((group, resource, verb, name))
    return rules


def test_the_role_grants_exactly_the_calls_the_gate_makes(used):
    # A rule without resourceNames grants every name; the gate's creates are such rules.
    allowed = granted()
    unnamed = {(g, r, v) for g, r, v, n in allowed if n == ""}

    def covered(call):
        return call in allowed or call[:3] in unnamed

    assert {call for call in used if not covered(call)} == set()
    exercised = {(g, r, v) for g, r, v, _ in used}
    assert {(g, r, v) for g, r, v, _ in allowed} == exercised


def test_no_gate_credential_can_write_the_server_deployment(used):
    writes = {"patch", "update", "create", "delete"}
    assert not {call for call in granted() if call[1] == "deployments" and call[2] in writes}
    assert not {call for call in used if call[1] == "deployments" and call[2] in writes}


def test_the_names_follow_the_server_name():
    named = {(r, n) for _, r, _, n in granted({"server": {"name": "narrator"}}) if n}
    assert named == {("deployments", "narrator"), ("deployments/scale", "narrator"), ("leases", "narrator-gate")}
