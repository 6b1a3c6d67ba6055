"""A card is (node, device): on a fake cluster of two GPU nodes with two cards each, every source
makes the gate decide on its own card only (issue 27).

The exporters answer as their sources write (tests/exporter.py: `dcgm_answer`,
`nvidia_gpu_exporter_answer`; the owner's per-process lines), one pod per node behind a Service
whose EndpointSlices the API double lists (tests/kubeapi.py), or behind a round-robin Service
double. The gate runs end to end (`gate status`, `gate guard`): settings, the pod on the node,
the fetch, the parse, the decision.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace

import pytest
from conftest import live_env
from exporter import Answer, FakeExporter, Gpu, RoundRobinService, dcgm_answer, nvidia_gpu_exporter_answer, two_nodes_two_cards
from faults import HEADER, _process
from kubeapi import FakeKubeAPI
from typer.testing import CliRunner

from gate.cli import app
from gate.sources import Card, SourceError
from gate.sources import dcgm as dcgm_source
from gate.sources import nvidia_gpu_exporter as nvidia_source

MIB = 2**20
NODES = ("node-a", "node-b")
# Each card's use, MiB, all different, so a reading names the card it came from.
USED = {("node-a", 0): 2100, ("node-a", 1): 3300, ("node-b", 0): 5500, ("node-b", 1): 7700}
SERVICES = {
    "dcgm": ("gpu-operator", "nvidia-dcgm-exporter", 9400),
    "nvidia_gpu_exporter": ("monitoring", "nvidia-gpu-exporter", 9835),
    "gpu-pod-exporter": ("nvidia", "gpu-pod-exporter", 80),
}
# The owner's exporter on each node: its pod is given one GPU (nvidia.com/gpu: 1), and lists the
# processes of that card, with no node or GPU label.
OWNER_PROCESSES = {
    "node-a": _process("immich", "immich-server-6c9d8b7f4d-2xk9p", 2211, 2100),
    "node-b": _process("frigate", "frigate-7b5f9c8d6-mz4tq", 3012, 5500),
}


def answer_for(source: str, node: str, gpus: list[Gpu]) -> str:
    mine = [g for g in gpus if g.node == node]
    if source == "dcgm":
        return dcgm_answer(mine)
    if source == "nvidia_gpu_exporter":
        return nvidia_gpu_exporter_answer(mine)
    return HEADER + OWNER_PROCESSES[node]


class Cluster:
    """Two GPU nodes, an exporter pod on each (a loopback double), the API double listing them
    behind the exporter's Service."""

    def __init__(self, stack: ExitStack, source: str, gpus: list[Gpu], replicas: int = 0):
        self.source, self.gpus = source, gpus
        self.api = stack.enter_context(FakeKubeAPI(replicas=replicas))
        self.pods = {node: stack.enter_context(FakeExporter()) for node in NODES}
        namespace, service, port = SERVICES[source]
        self.url = f"http://{service}.{namespace}.svc:{port}/metrics"
        endpoints = [(node, "127.0.0.1", pod.port, f"{service}-{node[-1]}x7k2p", True) for node, pod in self.pods.items()]
        self.api.add_service(namespace, service, port, endpoints)
        self.serve(gpus)

    def serve(self, gpus: list[Gpu]) -> None:
        """Each pod answers for its node's cards; `served` counts the requests each got."""
        self.gpus = gpus
        for node, pod in self.pods.items():
            pod.cycle["/metrics"] = [Answer(answer_for(self.source, node, gpus).encode())]

    def requests(self) -> dict[str, int]:
        return {node: pod.served.get("/metrics", 0) for node, pod in self.pods.items()}

    def env(self, tmp_path, node: str | None, device: str | None = None, **extra: str) -> dict[str, str]:
        env = {
            **live_env(self.api, self.pods["node-a"], tmp_path),
            "GATE_SOURCE": self.source,
            "GATE_METRICS_URL": self.url,
            "GATE_OUTPUT": "json",
            **extra,
        }
        if self.source != "gpu-pod-exporter":
            env["GATE_TOTAL"] = "device"
        if node:
            env["GATE_CARD_NODE"] = node
        if device is not None:
            env["GATE_CARD_DEVICE"] = device
        return env


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def gate(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def status(env: dict[str, str]) -> dict:
    """`gate status`'s view of the card: 0 when it could read it, 3 when blind (then it says why)."""
    result = gate(env, "status")
    view = json.loads(result.stdout)["view"]
    assert result.exit_code == (3 if view["blind"] else 0), result.output
    return view


def gpus() -> list[Gpu]:
    return two_nodes_two_cards(USED)


def uuid_of(node: str, index: int) -> str:
    return next(g.uuid for g in gpus() if (g.node, g.index) == (node, index))


# -- every source reads its own card ---------------------------------------------------------------


@pytest.mark.parametrize("node", NODES)
@pytest.mark.parametrize("index", (0, 1))
@pytest.mark.parametrize("source", ("dcgm", "nvidia_gpu_exporter"))
@pytest.mark.parametrize("device_as", ("index", "uuid"))
def test_a_device_level_source_reads_its_own_card_of_four(stack, tmp_path, source, node, index, device_as):
    cluster = Cluster(stack, source, gpus())
    # The UUID as Kubernetes and nvidia-smi write it; nvidia_gpu_exporter writes it lower case without GPU-.
    device = str(index) if device_as == "index" else "GPU-" + uuid_of(node, index).removeprefix("GPU-").upper()
    view = status(cluster.env(tmp_path, node, device))
    assert view["blind"] is None
    assert view["unattributed_bytes"] == (USED[(node, index)] + 449) * MIB
    assert view["total_bytes"] == 15360 * MIB
    # Read at the exporter's pod on that node, never the other.
    assert cluster.requests() == {n: int(n == node) for n in NODES}


@pytest.mark.parametrize("node", NODES)
def test_the_owners_exporter_is_read_at_its_pod_on_the_node(stack, tmp_path, node):
    cluster = Cluster(stack, "gpu-pod-exporter", gpus())
    view = status(cluster.env(tmp_path, node))
    assert view["blind"] is None
    assert [r["used_bytes"] for r in view["residents"]] == [USED[(node, 0)] * MIB]


def test_each_read_goes_to_the_nodes_pod_only(stack, tmp_path):
    cluster = Cluster(stack, "gpu-pod-exporter", gpus())
    for _ in range(3):
        status(cluster.env(tmp_path, "node-b"))
    assert cluster.requests() == {"node-a": 0, "node-b": 3}
    slices = [r for r in cluster.api.requests if "endpointslices" in r["path"]]
    assert slices and "labelSelector=kubernetes.io%2Fservice-name%3Dgpu-pod-exporter" in slices[0]["path"]


# -- a Service in front of two nodes --------------------------------------------------------------


def test_dcgm_through_a_round_robin_service_is_blind_when_the_other_node_answers(stack, tmp_path):
    """Without the pod on the node (the URL is the Service's address, not its name), the answers
    alternate between the nodes: node-b's has no series for node-a's card, so that read is blind,
    never node-b's card taken for ours."""
    cluster = Cluster(stack, "dcgm", gpus())
    service = stack.enter_context(RoundRobinService(backends=list(cluster.pods.values())))
    env = {**cluster.env(tmp_path, "node-a", "0"), "GATE_METRICS_URL": service.url}
    views = [status(env) for _ in range(4)]
    assert service.picked == [0, 1, 0, 1]
    assert [v["unattributed_bytes"] for v in views[0::2]] == [(2100 + 449) * MIB] * 2
    for view in views[1::2]:
        assert "has series for node-b/" in view["blind"] and "none for the watched card" in view["blind"]


def test_dcgm_through_its_service_name_reads_the_nodes_pod_every_time(stack, tmp_path):
    cluster = Cluster(stack, "dcgm", gpus())
    views = [status(cluster.env(tmp_path, "node-b", "1")) for _ in range(4)]
    assert {v["unattributed_bytes"] for v in views} == {(7700 + 449) * MIB}
    assert cluster.requests() == {"node-a": 0, "node-b": 4}


def test_a_source_that_names_no_node_behind_a_plain_address_is_refused_with_a_node_set(stack, tmp_path):
    """gpu-pod-exporter's answer says nothing of its node: behind an address that is not a
    Service's name nothing could tell which node answered, so the settings are refused."""
    cluster = Cluster(stack, "gpu-pod-exporter", gpus())
    service = stack.enter_context(RoundRobinService(backends=list(cluster.pods.values())))
    result = gate({**cluster.env(tmp_path, "node-a"), "GATE_METRICS_URL": service.url}, "status")
    assert result.exit_code == 2
    assert "must name the Service" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert service.picked == []


def test_without_a_node_set_the_owners_exporter_keeps_its_single_node_reading(stack, tmp_path):
    """A single GPU node's install (no card settings): the Service's one pod answers, as today."""
    cluster = Cluster(stack, "gpu-pod-exporter", gpus())
    env = {**cluster.env(tmp_path, None), "GATE_METRICS_URL": cluster.pods["node-a"].url}
    assert status(env)["resident_bytes"] == 2100 * MIB


# -- what an answer may lack ----------------------------------------------------------------------


def test_a_card_missing_from_its_nodes_answer_is_blind_not_idle(stack, tmp_path):
    cluster = Cluster(stack, "dcgm", gpus())
    cluster.pods["node-a"].cycle["/metrics"] = [Answer(dcgm_answer([g for g in gpus() if (g.node, g.index) == ("node-a", 1)]).encode())]
    view = status(cluster.env(tmp_path, "node-a", "0"))
    assert "has series for node-a/GPU-015c0ac5 but none for the watched card" in view["blind"]
    assert status(cluster.env(tmp_path, "node-a", "1"))["unattributed_bytes"] == (3300 + 449) * MIB


@pytest.mark.parametrize("source", ("dcgm", "nvidia_gpu_exporter"))
def test_several_cards_and_no_device_set_is_blind_and_names_the_setting(stack, tmp_path, source):
    cluster = Cluster(stack, source, gpus())
    view = status(cluster.env(tmp_path, "node-a"))
    assert "answers for 2 cards" in view["blind"] and "set card.device (GATE_CARD_DEVICE)" in view["blind"]


def test_no_ready_exporter_pod_on_the_node_is_blind(stack, tmp_path):
    cluster = Cluster(stack, "dcgm", gpus())
    namespace, service, port = SERVICES["dcgm"]
    cluster.api.add_service(namespace, service, port, [("node-b", "127.0.0.1", cluster.pods["node-b"].port, "x", True)])
    view = status(cluster.env(tmp_path, "node-a", "0"))
    assert "has no ready endpoint on node node-a (its EndpointSlices list node-b)" in view["blind"]


def test_endpointslices_the_role_cannot_list_are_blind_with_the_rbac_hint(stack, tmp_path):
    cluster = Cluster(stack, "dcgm", gpus())
    cluster.api.denied.add(("list", "endpointslices"))
    view = status(cluster.env(tmp_path, "node-a", "0"))
    assert "cannot find its pod on node node-a" in view["blind"] and "HTTP 403" in view["blind"]


# -- a second card's resident waking must not move our gate ------------------------------------------


@pytest.mark.parametrize("source", ("dcgm", "nvidia_gpu_exporter"))
def test_a_resident_waking_on_the_other_card_of_the_node_leaves_the_gate_holding(stack, tmp_path, source):
    cluster = Cluster(stack, source, gpus(), replicas=1)
    entered = {"tts.gate/entered-at": "2026-11-12T02:00:00Z", "tts.gate/entry-unattributed-bytes": str((2100 + 449) * MIB)}
    cluster.api.set_state(entered)
    woken = [replace(g, used_mib=14500, reserved_mib=0) if (g.node, g.index) == ("node-a", 1) else g for g in gpus()]
    cluster.serve(woken)
    result = gate(cluster.env(tmp_path, "node-a", "0"), "guard")
    assert result.exit_code == 0, result.output
    assert cluster.api.replicas() == 1
    # The same wake on our card gives it back.
    cluster.serve([replace(g, used_mib=14500, reserved_mib=0) if (g.node, g.index) == ("node-a", 0) else g for g in gpus()])
    gate(cluster.env(tmp_path, "node-a", "0"), "guard")
    assert cluster.api.replicas() == 0


# -- the exporters' other shapes ---------------------------------------------------------------------


def test_dcgm_copies_of_a_time_sliced_device_per_pod_read_as_the_device(stack):
    """KUBERNETES_VIRTUAL_GPUS: each pod using the GPU gets a copy of its free and reserved
    series, and its own share of used beside the device's own series."""
    cards = [g for g in gpus() if g.node == "node-a"]
    pods = {
        cards[0].uuid: [("tts", "chatterbox-tts-6b7c9d8f5-h4j7k", "chatterbox", 1500), ("immich", "immich-ml-7d9f8b6c5d-x2k4p", "ml", 600)]
    }
    reading = dcgm_source.parse_device(dcgm_answer(cards, pods=pods).encode(), "dcgm", Card("node-a", "0"))
    assert reading.used_bytes == 2100 * MIB and reading.total_bytes == 15360 * MIB


def test_dcgm_names_the_node_in_hostname_on_newer_builds():
    body = dcgm_answer([g for g in gpus() if g.node == "node-b"], node_label="hostname").encode()
    assert dcgm_source.parse_device(body, "dcgm", Card("node-b", "1")).used_bytes == 7700 * MIB
    with pytest.raises(SourceError, match="none for the watched card"):
        dcgm_source.parse_device(body, "dcgm", Card("node-a", "1"))


def test_nvidia_gpu_exporter_without_the_index_families_needs_a_uuid():
    body = "".join(
        line + "\n"
        for line in nvidia_gpu_exporter_answer([g for g in gpus() if g.node == "node-a"]).splitlines()
        if "nvidia_smi_index" not in line and "nvidia_smi_gpu_info" not in line
    ).encode()
    with pytest.raises(SourceError, match="maps no GPU index to a uuid"):
        nvidia_source.parse_device(body, "x", Card("node-a", "1"), answered_on="node-a")
    assert nvidia_source.parse_device(body, "x", Card("node-a", uuid_of("node-a", 1)), answered_on="node-a").used_bytes == 3300 * MIB


# -- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"GATE_CARD_DEVICE": "1"}, "card device '1' with source 'gpu-pod-exporter': its answers name no GPU"),
        ({"GATE_CARD_DEVICE": "GPU-12"}, "invalid card device 'GPU-12': expected the GPU's UUID"),
        ({"GATE_CARD_NODE": "Node_A"}, "invalid card node 'Node_A': expected a Kubernetes node name"),
        ({"GATE_SOURCE": "prometheus", "GATE_PROMETHEUS_NODE_LABEL": "no-de"}, "invalid prometheus node label 'no-de'"),
    ],
)
def test_a_card_the_sources_cannot_read_is_refused_in_one_line(stack, tmp_path, extra, message):
    cluster = Cluster(stack, "gpu-pod-exporter", gpus())
    env = {**cluster.env(tmp_path, "node-a"), **extra}
    if extra.get("GATE_SOURCE") == "prometheus":
        env["GATE_METRICS_URL"] = "http://prometheus-server.monitoring.svc:80"
    result = gate(env, "status")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_old_source_name_still_works_with_one_deprecation_line(stack, tmp_path):
    cluster = Cluster(stack, "nvidia_gpu_exporter", gpus())
    result = gate({**cluster.env(tmp_path, "node-b", "0"), "GATE_SOURCE": "nvidia-smi"}, "status")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["view"]["unattributed_bytes"] == (5500 + 449) * MIB
    warnings = [line for line in result.stderr.splitlines() if "deprecated" in line]
    assert warnings == [
        "gate: warning: source 'nvidia-smi' is deprecated: it is nvidia_gpu_exporter (utkuozdemir/nvidia_gpu_exporter); "
        "write nvidia_gpu_exporter"
    ]
