"""Least privilege, derived: run every command the chart runs against the kube-apiserver double,
turn the requests it saw into RBAC (group, resource, verb, name), and compare with the Role the
chart renders. A verb the gate uses and the Role lacks fails the gate at 02:00; a verb the Role
grants and nothing uses is a privilege a stolen token would have for nothing."""

from __future__ import annotations

import re

import pytest
from exporter import FakeExporter, fixture
from helm import by_kind, documents, one, render
from kubeapi import FakeKubeAPI
from typer.testing import CliRunner

from gate.cli import app

VERBS = {"GET": "get", "PATCH": "patch", "PUT": "update", "POST": "create"}
PATHS = [
    (re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)/scale$"), "apps", "deployments/scale"),
    (re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)$"), "apps", "deployments"),
    (re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/([^/]+)/leases/([^/]+)$"), "coordination.k8s.io", "leases"),
    (re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/([^/]+)/leases()$"), "coordination.k8s.io", "leases"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/events()$"), "", "events"),
    (re.compile(r"^/apis/discovery\.k8s\.io/v1/namespaces/([^/]+)/endpointslices()$"), "discovery.k8s.io", "endpointslices"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/]+)$"), "", "services"),
]


def rbac_of(request: dict) -> tuple[str, str, str, str, str]:
    """(namespace, apiGroup, resource, verb, name) of one request; name "" for a collection (create,
    list: a GET of a collection)."""
    path = request["path"].split("?", 1)[0]
    for pattern, group, resource in PATHS:
        if match := pattern.match(path):
            namespace, name = match.groups()
            verb = "list" if request["method"] == "GET" and not name else VERBS[request["method"]]
            return namespace, group, resource, verb, name
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


# The card's node set (gate.card.node): the exporter behind its Service (the chart's default URL,
# gpu-pod-exporter.nvidia.svc:80, with a second port so the gate asks the Service for the port's
# name) is read at its pod on the node, found through the Service's EndpointSlices.
NODE = "gpu-node-a"
EXPORTER_URL = "http://gpu-pod-exporter.nvidia.svc:80/metrics"
ON_A_NODE = {"gate": {"card": {"node": NODE}}}


def run_commands(tmp_path_factory, scenarios: list, node: str | None = None) -> set[tuple[str, str, str, str, str]]:
    """Every command of `scenarios` against the API double; the calls it saw, as RBAC."""
    seen = set()
    for command, replicas, state in scenarios:
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
            if node:
                endpoints = [
                    (node, "127.0.0.1", exporter.port, "gpu-pod-exporter-x7k2p", True),
                    ("gpu-node-b", "127.0.0.1", 9, "gpu-pod-exporter-q4w2n", True),
                ]
                api.add_service("nvidia", "gpu-pod-exporter", 80, endpoints, more_ports={"debug": 8080})
                env |= {"GATE_METRICS_URL": EXPORTER_URL, "GATE_CARD_NODE": node}
            args = [command, "--iterations", "2", "--interval", "0.01s", "--metrics-port", "0"] if command == "run" else [command]
            result = CliRunner().invoke(app, args, env=env, catch_exceptions=False)
            assert result.exit_code == 0, (command, result.output)
            seen |= {rbac_of(r) for r in api.requests}
    return seen


@pytest.fixture(scope="module")
def used(tmp_path_factory) -> set[tuple[str, str, str, str, str]]:
    return run_commands(tmp_path_factory, SCENARIOS)


@pytest.fixture(scope="module")
def used_on_a_node(tmp_path_factory) -> set[tuple[str, str, str, str, str]]:
    return run_commands(tmp_path_factory, SCENARIOS, node=NODE)


def granted(values: dict | None = None) -> set[tuple[str, str, str, str, str]]:
    """What the chart's Roles grant the gate's account: (namespace, group, resource, verb, name)."""
    objects = documents(render(values))
    account = one(objects, "ServiceAccount")["metadata"]["name"]
    bound = {
        (b["metadata"]["namespace"], b["roleRef"]["name"])
        for b in by_kind(objects, "RoleBinding")
        if {"kind": "ServiceAccount", "name": account, "namespace": "tts"} in b["subjects"]
    }
    rules = set()
    for role in by_kind(objects, "Role"):
        namespace = role["metadata"]["namespace"]
        assert (namespace, role["metadata"]["name"]) in bound
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        for name in rule.get("resourceNames") or [""]:
                            rules.add((namespace, group, resource, verb, name))
    return rules


@pytest.mark.parametrize(("values", "calls"), [(None, "used"), (ON_A_NODE, "used_on_a_node")], ids=["one node", "the card's node set"])
def test_the_role_grants_exactly_the_calls_the_gate_makes(values, calls, request):
    used = request.getfixturevalue(calls)
    # A rule without resourceNames grants every name; the gate's creates and lists are such rules.
    allowed = granted(values)
    unnamed = {call[:4] for call in allowed if call[4] == ""}

    def covered(call):
        return call in allowed or call[:4] in unnamed

    assert {call for call in used if not covered(call)} == set()
    exercised = {call[:4] for call in used}
    assert {call[:4] for call in allowed} == exercised


def test_the_card_node_adds_only_the_exporters_reads_in_its_namespace(used, used_on_a_node):
    assert {call for call in used_on_a_node - used if call[0] != "tts"} == {
        ("nvidia", "discovery.k8s.io", "endpointslices", "list", ""),
        ("nvidia", "", "services", "get", "gpu-pod-exporter"),
    }
    assert granted(ON_A_NODE) - granted() == {
        ("nvidia", "discovery.k8s.io", "endpointslices", "list", ""),
        ("nvidia", "", "services", "get", "gpu-pod-exporter"),
    }


def test_no_gate_credential_can_write_the_server_deployment(used):
    writes = {"patch", "update", "create", "delete"}
    assert not {call for call in granted() if call[2] == "deployments" and call[3] in writes}
    assert not {call for call in used if call[2] == "deployments" and call[3] in writes}


def test_the_names_follow_the_server_name():
    named = {(r, n) for _, _, r, _, n in granted({"server": {"name": "narrator"}}) if n}
    assert named == {("deployments", "narrator"), ("deployments/scale", "narrator"), ("leases", "narrator-gate")}
