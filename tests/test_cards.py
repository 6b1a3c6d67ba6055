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
import re
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import live_env
from exporter import Answer, FakeExporter, Gpu, RoundRobinService, dcgm_answer, nvidia_gpu_exporter_answer, two_nodes_two_cards
from faults import HEADER, _process
from kubeapi import FakeKubeAPI
from typer.testing import CliRunner

from gate.cli import app
from gate.kube import config as kube_config
from gate.kube.client import KubeClient
from gate.locate import Locator
from gate.measure import NothingToMeasure, measure_card
from gate.policy import PodUsage
from gate.sources import Card, SourceConfig, SourceError, make_source
from gate.sources import dcgm as dcgm_source
from gate.sources import nvidia_gpu_exporter as nvidia_source
from gate.status import ExitStatus
from gate.trace import Trace, from_rows, load_csv, to_card_csv, to_csv

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


# -- recorded nights of several cards: gate replay and gate measure -----------------------------------

ROOT = Path(__file__).resolve().parent.parent
CARDS = ROOT / "samples" / "cards"


def replay(*args: str) -> list[dict]:
    result = CliRunner().invoke(app, ["replay", *args, "-o", "json"])
    assert result.exit_code == 0, result.output
    return [{k: v for k, v in night.items() if k != "trace"} for night in json.loads(result.stdout)]


def test_replay_of_a_two_card_night_decides_on_the_chosen_card_only(tmp_path):
    """node-b's batch job and llama-swap wake through the window: the replay of node-a's card is
    the replay of that card's own night, as if node-b did not exist; node-b's is not."""
    two = str(CARDS / "two-cards.csv")
    alone = tmp_path / "node-a.csv"
    alone.write_text(to_csv(load_csv(CARDS / "two-cards.csv", "node-a")))  # node-a's rows only, the one-card form
    assert replay(two, "--card-node", "node-a") == replay(str(alone))
    [ours] = replay(two, "--card-node", "node-a", "--compare")[1:]
    [theirs] = replay(two, "--card-node", "node-b", "--compare")[1:]
    assert (ours["yields"], ours["wakes"]) == (0, 0)
    assert theirs["yields"] >= 1 and theirs["wakes"] >= 2
    # dcgm-exporter names the device as well: the same card chosen by node and device.
    assert replay(two, "--source", "dcgm", "--card-node", "node-a", "--card-device", "0")[0]["yields"] == 0


def test_replay_of_several_cards_needs_the_card():
    result = CliRunner().invoke(app, ["replay", str(CARDS / "two-cards.csv")])
    assert result.exit_code == 2
    assert result.stderr.strip() == "gate: two-cards.csv: holds 2 cards (node-a/0, node-b/0): choose one with --card-node and --card-device"


def measure(*args: str) -> dict:
    result = CliRunner().invoke(app, ["measure", *args, "-o", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# The server's own use in the bake night (bench/nights.py `serving`): 3.6 GiB serving, up to
# 4380 MiB while a long chunk grows the allocator's reserve. The residents' readings jitter by
# up to 8 MiB each (four of them), which the rise carries.
SERVER_PEAK_MIB = 4380


@pytest.mark.parametrize("night", ["baked-dcgm", "baked-nvidia-gpu-exporter"])
def test_measure_prints_the_floor_from_a_device_level_night_with_residents(night):
    measured = measure(str(CARDS / f"{night}.csv"), "--card-node", "node-a", "--card-device", "0")
    first, second = measured["spans"]
    # 02:00-03:30: llama-swap woke on the card and was still there after the yield: left out.
    assert not first["clean"] and "the residents moved" in first["problem"]
    assert second["clean"] and abs(second["baseline_bytes"] - (4870 + 449) * MIB) < 64 * MIB
    assert abs(measured["peak_bytes"] - SERVER_PEAK_MIB * MIB) <= 32 * MIB
    assert measured["floor"] == f"{measured['own_peak_bytes'] // MIB + 2048}MiB"
    assert measured["helm"].endswith(f"--set gate.ownPeak={measured['own_peak']} --set gate.floor={measured['floor']}")
    if night == "baked-nvidia-gpu-exporter":
        assert "its compute processes unchanged but the server's" in measured["steady_because"]


def test_measure_text_says_how_the_residents_were_known_steady():
    result = CliRunner().invoke(app, ["measure", str(CARDS / "baked-dcgm.csv"), "--card-node", "node-a", "--card-device", "0"])
    assert result.exit_code == 0, result.output
    assert (
        "2 entries, 1 clean (residents steady: the card settled before each entry and back at its baseline after the exit)" in result.stdout
    )
    assert "left out: after the exit the card held" in result.stdout
    assert "helm upgrade tts ./chart -n tts --reuse-values --set gate.ownPeak=" in result.stdout


def card_night(uses: list[int], replicas: list[int], processes: list[int] | None = None) -> Trace:
    """A small card night, a reading every 15 s: MiB on the card, the gate's replicas, processes."""
    start = datetime(2026, 11, 12, 2, 0, tzinfo=UTC)
    times = [start + timedelta(seconds=15 * i) for i in range(len(uses))]
    return from_rows(
        {t: [PodUsage("", "", mib * MIB)] for t, mib in zip(times, uses, strict=True)},
        "small",
        dict(zip(times, processes, strict=True)) if processes else None,
        dict(zip(times, replicas, strict=True)),
        ("node-a", "0"),
    )


# Before: 9 readings at 5000 MiB, replicas 0; held: 12 readings, the server at +4000; after: released
# (4 readings, 60 s) then 9 settled readings.
BEFORE, HELD, AFTER = [5000] * 9, [5000, 5000, 9000, 9000, 9000, 9000, 9000, 9000, 9000, 9000, 9000, 9000], [5000] * 13
REPLICAS = [0] * 9 + [1] * 12 + [0] * 13


def test_a_clean_span_measures_the_rise_over_the_baseline():
    measured = measure_card(card_night(BEFORE + HELD + AFTER, REPLICAS), 2 * 1024 * MIB)
    assert (measured.peak_bytes, measured.floor_bytes, measured.drift_bytes) == (4000 * MIB, 6048 * MIB, 0)


def test_a_resident_process_started_and_stopped_inside_a_span_leaves_it_out():
    """dcgm-exporter cannot see it (the card is back at its baseline after the exit); the process
    count of nvidia_gpu_exporter does: a resident started a process and stopped it again."""
    uses = BEFORE + [5000, 5000, 9000, 9000, 9900, 9900, 9000, 9000, 9000, 9000, 9000, 9000] + AFTER
    processes = [4] * 9 + [4, 4, 5, 5, 6, 6, 5, 5, 5, 5, 5, 5] + [4] * 13
    with pytest.raises(NothingToMeasure, match=r"compute processes went from 4 to \[4, 5, 6\]"):
        measure_card(card_night(uses, REPLICAS, processes), 0)
    # Without the count the same night measures the transient as the server's: what the count is for.
    assert measure_card(card_night(uses, REPLICAS), 0).peak_bytes == 4900 * MIB


@pytest.mark.parametrize(
    ("uses", "replicas", "message"),
    [
        ([5000, 5200, 5400, 5600, 5800, 6000, 6200, 6400, 6600] + HELD + AFTER, REPLICAS, "not settled"),
        (BEFORE + HELD + [5000] * 4 + [7000] * 9, REPLICAS, "not its baseline"),
        (BEFORE + HELD, REPLICAS[:21], "still held at the end of the trace"),
        (BEFORE + HELD + AFTER, [0] * 34, "the server never took the card"),
    ],
    ids=["moving before the entry", "another level after the exit", "no exit", "never held"],
)
def test_a_night_without_a_clean_span_is_refused_in_one_line(tmp_path, uses, replicas, message):
    trace = card_night(uses, replicas)
    with pytest.raises(NothingToMeasure, match=message):
        measure_card(trace, 0)
    path = tmp_path / "night.csv"
    path.write_text(to_card_csv([trace]))
    result = CliRunner().invoke(app, ["measure", str(path)])
    assert result.exit_code == int(ExitStatus.NOTHING_TO_MEASURE)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_device_level_night_without_the_gates_record_is_refused():
    result = CliRunner().invoke(app, ["measure", str(CARDS / "baked-dcgm.csv"), "--card-node", "node-a", "--card-device", "1"])
    assert result.exit_code == int(ExitStatus.NOTHING_TO_MEASURE)
    assert "no record of the server's replicas" in result.stderr


def test_the_card_nights_are_what_the_generator_writes():
    sys.path.insert(0, str(ROOT / "bench"))
    import nights

    for name, text in nights.two_cards() + nights.baked_cards():
        assert (CARDS / f"{name}.csv").read_text() == text, name


def test_the_operating_guides_sources_table_is_the_registry():
    """docs/operating.md's table of sources lists the registry's, each with its project."""
    from gate.sources import EXPORTERS

    text = (ROOT / "docs" / "operating.md").read_text()
    table = text[text.index("| source | exporter, and how it is installed |") :].split("\n\n")[0].splitlines()[2:]
    names = [row.split("|")[1].strip().split("`")[1] for row in table]
    assert names == [e.name for e in EXPORTERS]
    for row, source in zip(table, EXPORTERS, strict=True):
        # The exporter's repository, where it has one (Prometheus is a way of reading it).
        assert all(repository in row for repository in re.findall(r"\b[A-Za-z]+/[\w-]+", source.project)), source.name
        assert all(f"`{alias}`" in row for alias in source.aliases)


def test_the_pod_found_is_kept_and_found_again_after_a_failed_read(stack, tmp_path):
    """The loops read every interval: the pod's address is kept (one list a minute, not one a
    read), and a read that fails (the DaemonSet replaced its pod) forgets it, so the next read
    finds the new pod."""
    cluster = Cluster(stack, "dcgm", gpus())
    cluster_config = kube_config.load(cluster.api.kubeconfig(tmp_path / "kubeconfig", namespace="tts"))
    locator = Locator(KubeClient(cluster_config, attempts=1), cluster.url, "node-b")
    source = make_source("dcgm", SourceConfig(url=cluster.url, card=Card("node-b", "0"), locate=locator, timeout_seconds=2))
    lists = lambda: sum(1 for r in cluster.api.requests if "endpointslices" in r["path"])  # noqa: E731
    assert source.read().unattributed_bytes == (5500 + 449) * MIB
    assert source.read().unattributed_bytes == (5500 + 449) * MIB
    assert lists() == 1
    # The pod is replaced: the old address refuses, the Service's slices list the new one.
    replacement = stack.enter_context(FakeExporter())
    replacement.serve(answer_for("dcgm", "node-b", gpus()))
    cluster.pods["node-b"].__exit__(None, None, None)
    namespace, service, port = SERVICES["dcgm"]
    endpoints = [("node-a", "127.0.0.1", cluster.pods["node-a"].port, "a", True), ("node-b", "127.0.0.1", replacement.port, "b2", True)]
    cluster.api.add_service(namespace, service, port, endpoints)
    with pytest.raises(SourceError, match=r"nvidia-dcgm-exporter-bx7k2p on node-b\): cannot connect \(connection refused\)"):
        source.read()
    assert source.read().unattributed_bytes == (5500 + 449) * MIB
    assert lists() == 2


def test_dcgm_mig_instances_of_one_card_are_blind_not_added_up():
    card = next(g for g in gpus() if (g.node, g.index) == ("node-a", 0))
    body = dcgm_answer([card])
    used = f'DCGM_FI_DEV_FB_USED{{gpu="0",UUID="{card.uuid}",pci_bus_id="{card.bus_id}",device="nvidia0",'
    used += 'modelName="Tesla T4",Hostname="node-a"'
    body = body.replace(
        f'{used},DCGM_FI_DRIVER_VERSION="570.195.03"}} 2100',
        f'{used},GPU_I_PROFILE="1g.5gb",GPU_I_ID="1"}} 1000\n{used},GPU_I_PROFILE="1g.5gb",GPU_I_ID="2"}} 1100',
    )
    with pytest.raises(SourceError, match="has 2 series for one card with different values"):
        dcgm_source.parse_device(body.encode(), "dcgm", Card("node-a", "0"))
