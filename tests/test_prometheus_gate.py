"""The gate's Prometheus path against a real Prometheus (Debian's package, tests/promserver.py):
the live commands, `gate measure --prometheus` and `gate replay --prometheus`, with the owner's
job name (`gpu-pod-memory`) and no query overridden."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from kubeapi import FakeKubeAPI
from podexporter import OwnerExporter
from promserver import PromServer, Series, night_series, sample_night
from typer.testing import CliRunner

from gate.cli import app
from gate.trace import Trace, load_csv
from gate.units import format_instant

ROOT = Path(__file__).resolve().parent.parent
MIB = 2**20


def gate(args: list[str], **env: str):
    return CliRunner().invoke(app, args, env=env, catch_exceptions=False)


def live_env(api: FakeKubeAPI, url: str, tmp_path, **extra: str) -> dict[str, str]:
    """The live commands with source prometheus and nothing but the URL set for it."""
    return {
        "KUBECONFIG": api.kubeconfig(tmp_path / "kubeconfig", namespace="tts"),
        "GATE_SOURCE": "prometheus",
        "GATE_METRICS_URL": url,
        "GATE_TOTAL": "15360MiB",
        "GATE_FLOOR": "6GiB",
        "GATE_WINDOW": "any",
        "GATE_MAX_AGE": "30s",
        "GATE_TIMEOUT": "5s",
        "GATE_OUTPUT": "json",
        **extra,
    }


# -- a live scrape of the owner's exporter ----------------------------------------------------------


@pytest.fixture(scope="module")
def scraped(tmp_path_factory) -> Iterator[tuple[OwnerExporter, PromServer]]:
    """The exporter double scraped every second as job gpu-pod-memory (one server per module:
    the first scrape takes ~5 s)."""
    with OwnerExporter() as card:
        card.start_container("c-frigate", "frigate", "frigate-7b5f9c8d6-mz4tq", "frigate")
        card.run(3012, 1950, "c-frigate")
        card.run(1187, 100, None, name="/usr/bin/Xorg")
        card.advance(0)
        with PromServer(tmp_path_factory.mktemp("scraped"), scrape=[card.url], scrape_interval="1s") as server:
            assert server.wait_for('up{job="gpu-pod-memory"} == 1', timeout=20), "Prometheus never scraped the exporter"
            yield card, server


def wait_for_scrape_of(server, promql: str) -> None:
    assert server.wait_for(promql, timeout=10), promql


def test_the_prometheus_source_reads_the_owners_exporter_with_its_job_name(scraped, tmp_path):
    card, server = scraped
    card.nvidia_smi_fails = False
    card.collect()
    wait_for_scrape_of(server, 'count(gpu_pod_memory_used_bytes{job="gpu-pod-memory"}) == 2')
    with FakeKubeAPI(replicas=0) as api:
        result = gate(["status"], **live_env(api, server.url, tmp_path))
    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert report["view"]["resident_bytes"] == (1950 + 100) * MIB
    assert report["would"]["preflight"]["reason"] == "entered"


def test_through_prometheus_a_failed_nvidia_smi_is_blind_too(scraped, tmp_path):
    """`up` stays 1 and the family answers with no series: the same ambiguity, the same answer."""
    card, server = scraped
    card.nvidia_smi_fails = True
    card.collect()
    deadline = time.monotonic() + 10
    while server.query("gpu_pod_memory_used_bytes") and time.monotonic() < deadline:
        time.sleep(0.2)  # the next scrape marks the vanished series stale
    assert server.query('up{job="gpu-pod-memory"}')[0]["value"][1] == "1"
    with FakeKubeAPI(replicas=0) as api:
        result = gate(["preflight"], **live_env(api, server.url, tmp_path))
        assert (result.exit_code, api.replicas()) == (3, 0), result.output
    assert "lists no GPU process" in result.stderr
    card.nvidia_smi_fails = False
    card.collect()


# -- freshness: the sample time is the last scrape's ----------------------------------------------


@pytest.fixture
def three_minutes_ago(prometheus_factory):
    """The owner's Prometheus after its scrapes stopped 3 minutes ago: inside the 5-minute
    lookback an instant query still answers, up included, with the old values."""
    trace = sample_night("quiet")
    last = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    return prometheus_factory(series=night_series(trace, ending_at=last)), trace


def test_samples_older_than_max_age_are_blind_though_prometheus_still_answers(three_minutes_ago, tmp_path):
    server, _ = three_minutes_ago
    assert server.query('max(up{job="gpu-pod-memory"})')[0]["value"][1] == "1"
    with FakeKubeAPI(replicas=1) as api:
        result = gate(["guard"], **live_env(api, server.url, tmp_path, GATE_MAX_AGE="60s"))
        assert (result.exit_code, api.replicas()) == (3, 0), result.output
    assert "stale" in result.stderr


def test_a_max_age_above_the_lag_reads_them(three_minutes_ago, tmp_path):
    server, trace = three_minutes_ago
    with FakeKubeAPI(replicas=0) as api:
        result = gate(["status"], **live_env(api, server.url, tmp_path, GATE_MAX_AGE="5m"))
    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert report["view"]["resident_bytes"] == sum(p.used_bytes for p in trace.snapshots[-1].pods)


# -- measure and replay over a backfilled night ----------------------------------------------------

TTS_POD = "chatterbox-tts-6b7c9d8f5-h4j7k"


def range_args(trace) -> list[str]:
    return ["--start", format_instant(trace.start), "--end", format_instant(trace.end), "--step", f"{trace.step_seconds:g}s"]


def test_measure_reads_the_servers_peak_from_a_real_prometheus(prometheus_factory):
    trace = sample_night("quiet")
    bake_start = trace.start + timedelta(minutes=40)

    def server_memory(t: datetime) -> float | None:
        minutes = (t - bake_start).total_seconds() / 60
        return None if not 0 <= minutes <= 60 else (4200 + (412 if 20 <= minutes < 21 else 0)) * MIB

    tts = Series.over(
        "gpu_pod_memory_used_bytes",
        {"namespace": "tts", "pod": TTS_POD, "container": "chatterbox-tts", "process_name": "python3", "pid": "5502"},
        trace.start,
        trace.end,
        trace.step_seconds,
        server_memory,
    )
    server = prometheus_factory(series=[*night_series(trace), tts], lookback="14s")
    result = gate(["measure", "--prometheus", server.url, *range_args(trace), "-o", "json"])
    assert result.exit_code == 0, result.output
    measured = json.loads(result.stdout)
    assert (measured["peak_bytes"], measured["floor"]) == (4612 * MIB, "6660MiB")
    assert measured["held_seconds"] == pytest.approx(3600, abs=trace.step_seconds)


@pytest.mark.parametrize("night", ["mid-window-wake", "exporter-outage"])
def test_replay_from_a_real_prometheus_equals_the_replay_of_the_recorded_night(prometheus_nights, night):
    trace = sample_night(night)
    from_csv = gate(["replay", str(ROOT / "samples" / "nights" / f"{night}.csv"), "--compare", "-o", "json"])
    from_prometheus = gate(["replay", "--prometheus", prometheus_nights.url, *range_args(trace), "--compare", "-o", "json"])
    assert from_csv.exit_code == from_prometheus.exit_code == 0, from_prometheus.output

    def nights(result) -> list[dict]:
        return [{k: v for k, v in row.items() if k != "trace"} for row in json.loads(result.stdout)]

    assert nights(from_prometheus) == nights(from_csv)


@pytest.mark.parametrize("command", ["replay", "measure"])
def test_a_liveness_query_that_answers_nothing_is_refused_not_guessed(prometheus_nights, command):
    trace = sample_night("quiet")
    result = gate(
        [command, "--prometheus", prometheus_nights.url, *range_args(trace), "--prometheus-up-query", 'max(up{job="gpu-pod-exporter"})']
    )
    assert result.exit_code == 3
    assert "answered nothing over the range" in result.stderr and "--prometheus-up-query" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- several cards: a device-level night measured, two nodes read one at a time ---------------------

CARDS = ROOT / "samples" / "cards"
UUIDS = {"0": "GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a", "1": "GPU-7e6d1bd6-85e8-4241-57a2-fa4fe68a570b"}


def card_series(source: str, night: str) -> tuple[list[Series], Trace]:
    """What Prometheus holds of samples/cards/<night>.csv: each card's exporter series with their
    labels as the exporter writes them (dcgm-exporter's `gpu`, `UUID`, `Hostname`;
    nvidia_gpu_exporter's `uuid`, and the `node` the scrape adds), and the gate's `gate_replicas`
    as its controller's pod is scraped (`namespace`, `pod`, and the `deployment` every gate's series
    carry), beside another card's gate's."""
    series: list[Series] = []
    first = None
    for device in ("0", "1"):
        trace = load_csv(CARDS / f"{night}.csv", "node-a", device)
        first = first or trace
        used_mib = {s.time.timestamp(): sum(p.used_bytes for p in s.pods) / MIB for s in trace.snapshots}
        uuid = UUIDS[device]
        if source == "dcgm":
            labels = {"gpu": device, "UUID": uuid, "pci_bus_id": f"00000000:3{7 + int(device)}:00.0", "device": f"nvidia{device}"}
            labels |= {"modelName": "Tesla T4", "Hostname": "node-a", "DCGM_FI_DRIVER_VERSION": "570.195.03"}
            for name, value in (
                ("DCGM_FI_DEV_FB_USED", lambda mib: mib - 449),
                ("DCGM_FI_DEV_FB_RESERVED", lambda mib: 449),
                ("DCGM_FI_DEV_FB_FREE", lambda mib: 15360 - mib),
            ):
                series.append(Series(name, labels, [(t, value(mib)) for t, mib in used_mib.items()]))
        else:
            labels = {"uuid": uuid.lower().removeprefix("gpu-"), "node": "node-a", "instance": f"10.42.0.{7 + int(device)}:9835"}
            series.append(Series("nvidia_smi_memory_total_bytes", labels, [(t, 15360 * MIB) for t in used_mib]))
            series.append(Series("nvidia_smi_memory_free_bytes", labels, [(t, (15360 - mib) * MIB) for t, mib in used_mib.items()]))
            series.append(Series("nvidia_smi_index", labels, [(t, int(device)) for t in used_mib]))
            counted = [(s.time.timestamp(), s.processes) for s in trace.snapshots if s.processes is not None]
            series.append(Series("nvidia_smi_compute_apps", labels, counted))
        if device == "0":
            recorded = [(s.time.timestamp(), s.replicas) for s in trace.snapshots if s.replicas is not None]
            gate = {"namespace": "tts", "deployment": "chatterbox-tts", "pod": "chatterbox-tts-gate-7d9f8b6c5d-x2k4p"}
            series.append(Series("gate_replicas", gate, recorded))
            # Another card's gate in the namespace, holding its card all night: never ours.
            other = {"namespace": "tts", "deployment": "tts-node-b", "pod": "tts-node-b-gate-5c8d7f9b6-q4w2n"}
            series.append(Series("gate_replicas", other, [(t, 1) for t, _ in recorded]))
    assert first is not None
    return series, first


@pytest.mark.parametrize(("source", "night"), [("dcgm", "baked-dcgm"), ("nvidia_gpu_exporter", "baked-nvidia-gpu-exporter")])
def test_measure_finds_the_servers_own_peak_on_a_card_through_a_real_prometheus(prometheus_factory, source, night):
    """The night of a device-level exporter, read back through Prometheus with the exporter's
    labels, measures as its recorded file does: the same spans, the same own peak."""
    series, trace = card_series(source, night)
    server = prometheus_factory(series=series, lookback="14s")
    card = ["--card-node", "node-a", "--card-device", "0"]
    from_file = gate(["measure", str(CARDS / f"{night}.csv"), *card, "-o", "json"])
    through = gate(["measure", "--prometheus", server.url, "--source", source, *card, *range_args(trace), "-o", "json"])
    assert from_file.exit_code == through.exit_code == 0, through.output
    expected, measured = json.loads(from_file.stdout), json.loads(through.stdout)
    assert [s["clean"] for s in measured["spans"]] == [False, True]
    for key in ("spans", "peak_bytes", "own_peak", "floor", "helm"):
        assert measured[key] == expected[key], key


def test_measure_of_a_card_needs_the_card_where_prometheus_holds_several(prometheus_factory):
    series, trace = card_series("dcgm", "baked-dcgm")
    server = prometheus_factory(series=series, lookback="14s")
    result = gate(["measure", "--prometheus", server.url, "--source", "dcgm", *range_args(trace)])
    assert result.exit_code == 3
    assert "answers for 2 series" in result.stderr and "--card-node and --card-device" in result.stderr


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory) -> Iterator[tuple[PromServer, dict[str, OwnerExporter]]]:
    """The owner's exporter on two GPU nodes, scraped per pod with the node as a target label (as
    the prometheus chart's endpoints job writes `node`), every second."""
    with OwnerExporter() as a, OwnerExporter() as b:
        a.start_container("c-immich", "immich", "immich-server-6c9d8b7f4d-2xk9p", "server")
        a.run(2211, 1230, "c-immich")
        b.start_container("c-frigate", "frigate", "frigate-7b5f9c8d6-mz4tq", "frigate")
        b.run(3012, 9950, "c-frigate")
        for exporter in (a, b):
            exporter.advance(0)
        job = {
            "job_name": "gpu-pod-memory",
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "static_configs": [
                {"targets": [urlsplit(a.url).netloc], "labels": {"node": "node-a"}},
                {"targets": [urlsplit(b.url).netloc], "labels": {"node": "node-b"}},
            ],
        }
        with PromServer(tmp_path_factory.mktemp("two-nodes"), scrape_configs=[job]) as server:
            assert server.wait_for('count(up{job="gpu-pod-memory"} == 1) == 2', timeout=20), server.log_tail()
            yield server, {"node-a": a, "node-b": b}


@pytest.mark.parametrize(("node", "resident_mib"), [("node-a", 1230), ("node-b", 9950)])
def test_the_prometheus_source_reads_the_cards_node_only(two_nodes, tmp_path, node, resident_mib):
    server, _ = two_nodes
    with FakeKubeAPI(replicas=0) as api:
        result = gate(["status"], **live_env(api, server.url, tmp_path, GATE_CARD_NODE=node))
    report = json.loads(result.stdout)
    assert report["view"]["resident_bytes"] == resident_mib * MIB, result.output


def test_through_prometheus_two_nodes_and_no_card_node_are_blind_not_added_up(two_nodes, tmp_path):
    server, _ = two_nodes
    with FakeKubeAPI(replicas=0) as api:
        result = gate(["status"], **live_env(api, server.url, tmp_path))
    assert result.exit_code == 3
    assert "spans 2 nodes (node-a, node-b)" in json.loads(result.stdout)["view"]["blind"]
