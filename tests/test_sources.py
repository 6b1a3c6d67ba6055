"""Every source against a loopback server serving each exporter's real wire format."""

from __future__ import annotations

import json
import socket
import time

import pytest
from exporter import Answer, fixture
from loopback import unused_port

from gate.policy import PodUsage
from gate.sources import Card, SourceConfig, SourceError, make_source, provides_total

MiB = 2**20


def read(name: str, exporter, url: str | None = None, **config):
    return make_source(name, SourceConfig(url=url or exporter.url, **config)).read()


# -- gpu-pod-exporter ------------------------------------------------------------------------------


def test_gpu_pod_exporter_sums_processes_by_pod(exporter):
    exporter.serve(fixture("gpu-pod-exporter.prom"), content_type="text/plain; charset=utf-8")
    reading = read("gpu-pod-exporter", exporter)
    assert reading.pods == (
        PodUsage("immich", "immich-machine-learning-7d9f8b6c5d-x2k4p", 2150 * MiB),
        PodUsage("llama-cpp", "llama-cpp-5c8d7f9b6-q8w2z", 4350 * MiB),
        PodUsage("tts", "chatterbox-tts-6b7c9d8f5-h4j7k", 4608 * MiB),
    )
    assert reading.unattributed_bytes == 100 * MiB  # the `unknown` process
    assert reading.device_total_bytes is None
    assert reading.sampled_at is None  # unstamped samples are as fresh as the answer


def test_gpu_pod_exporter_adds_up_several_processes_of_one_pod(exporter):
    labels = 'namespace="ai",pod="memory-7d9f8b6c5d-x2k4p",container="w",process_name="python"'
    exporter.serve(
        "# HELP gpu_pod_memory_used_bytes GPU memory used by pod\n"
        "# TYPE gpu_pod_memory_used_bytes gauge\n"
        f'gpu_pod_memory_used_bytes{{{labels},pid="1"}} 3374317568\n'
        f'gpu_pod_memory_used_bytes{{{labels},pid="2"}} 4294967296\n'
    )
    assert read("gpu-pod-exporter", exporter).pods == (PodUsage("ai", "memory-7d9f8b6c5d-x2k4p", 7314 * MiB),)


def test_gpu_pod_exporter_with_no_processes_is_an_idle_card(exporter):
    exporter.serve(fixture("gpu-pod-exporter-idle.prom"))
    reading = read("gpu-pod-exporter", exporter)
    assert reading.pods == () and reading.unattributed_bytes == 0


def test_gpu_pod_exporter_needs_a_configured_total():
    assert provides_total("gpu-pod-exporter") is False
    assert provides_total("prometheus") is False
    assert provides_total("dcgm") is True
    assert provides_total("nvidia_gpu_exporter") is True
    assert provides_total("nvidia-smi") is True  # its old name


# -- dcgm-exporter ---------------------------------------------------------------------------------


def test_dcgm_total_is_free_plus_used_plus_reserved_in_mib(exporter):
    exporter.serve(fixture("dcgm-t4.prom"))
    reading = read("dcgm", exporter)
    assert reading.device_total_bytes == 15360 * MiB
    assert reading.unattributed_bytes == (5120 + 449) * MiB
    assert reading.pods == ()


def test_dcgm_values_in_bytes_are_refused(exporter):
    text = fixture("dcgm-t4.prom").decode().replace("} 9791", "} 10266607616").replace("} 5120", "} 5368709120")
    exporter.serve(text)
    with pytest.raises(SourceError, match="not MiB"):
        read("dcgm", exporter)


def test_dcgm_with_two_gpus_and_no_card_set_is_blind_naming_the_setting(exporter):
    lines = fixture("dcgm-t4.prom").decode().splitlines()
    extra = [line.replace('gpu="0"', 'gpu="1"').replace("GPU-6d5c", "GPU-7e6d") for line in lines if line.startswith("DCGM_FI_DEV_FB_")]
    exporter.serve("\n".join(lines + extra) + "\n")
    with pytest.raises(SourceError, match=r"answers for 2 cards \(node1/GPU-6d5c0ac5, node1/GPU-7e6d0ac5\).*set card.device"):
        read("dcgm", exporter)
    # Told which, it reads that one.
    assert read("dcgm", exporter, card=Card(device="1")).device_total_bytes == 15360 * MiB


def test_dcgm_without_reserved_field_still_reads(exporter):
    text = "\n".join(line for line in fixture("dcgm-t4.prom").decode().splitlines() if "RESERVED" not in line) + "\n"
    exporter.serve(text)
    assert read("dcgm", exporter).device_total_bytes == (9791 + 5120) * MiB


# -- nvidia_gpu_exporter ---------------------------------------------------------------------------


def test_nvidia_gpu_exporter_reads_total_and_free_in_bytes(exporter):
    exporter.serve(fixture("nvidia-gpu-exporter-t4.prom"))
    reading = read("nvidia_gpu_exporter", exporter)
    assert reading.device_total_bytes == 15360 * MiB
    assert reading.unattributed_bytes == (15360 - 9791) * MiB


def test_nvidia_gpu_exporter_in_mib_is_refused(exporter):
    exporter.serve(fixture("nvidia-gpu-exporter-t4.prom").decode().replace("1.6106127360e+10", "15360"))
    with pytest.raises(SourceError, match="MiB"):
        read("nvidia_gpu_exporter", exporter)


# -- Prometheus ------------------------------------------------------------------------------------


def vector(*series: tuple[dict, str], stamp: float = 1_794_450_600.0) -> str:
    return json.dumps(
        {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": m, "value": [stamp, v]} for m, v in series]},
        }
    )


UP = 'max(up{job="gpu-pod-memory"})'
SAMPLED = 'max(timestamp(up{job="gpu-pod-memory"}))'
USAGE = "sum by (namespace, pod, node) (gpu_pod_memory_used_bytes)"
SCRAPED = 1_794_450_585.0  # the exporter's last scrape, 15 s before the evaluation


def answer(text: str) -> Answer:
    return Answer(text.encode(), content_type="application/json")


def test_prometheus_maps_the_query_to_pods_after_checking_the_exporter_is_up(exporter):
    exporter.by_query[UP] = answer(vector(({}, "1")))
    exporter.by_query[SAMPLED] = answer(vector(({}, f"{SCRAPED}")))
    exporter.by_query[USAGE] = answer(
        vector(
            ({"namespace": "immich", "pod": "immich-machine-learning-7d9f8b6c5d-x2k4p"}, "2254438400"),
            ({"namespace": "unknown", "pod": "unknown"}, "104857600"),
        )
    )
    reading = read("prometheus", exporter, url=exporter.base_url)
    assert reading.pods == (PodUsage("immich", "immich-machine-learning-7d9f8b6c5d-x2k4p", 2150 * MiB),)
    assert reading.unattributed_bytes == 100 * MiB
    assert not reading.empty
    # The scrape's time, not the evaluation's: Prometheus returns a series for 5 minutes after
    # its last scrape, so only this can go stale.
    assert reading.sampled_at.timestamp() == SCRAPED
    assert exporter.queries == [UP, SAMPLED, USAGE]


def test_prometheus_with_the_exporter_up_and_no_series_is_an_empty_answer(exporter):
    exporter.by_query[UP] = answer(vector(({}, "1")))
    exporter.by_query[SAMPLED] = answer(vector(({}, f"{SCRAPED}")))
    exporter.by_query[USAGE] = answer(vector())
    reading = read("prometheus", exporter, url=exporter.base_url)
    assert (reading.pods, reading.unattributed_bytes, reading.empty) == ((), 0, True)


def test_prometheus_without_a_scrape_time_is_blind(exporter):
    exporter.by_query[UP] = answer(vector(({}, "1")))
    exporter.by_query[SAMPLED] = answer(vector())
    with pytest.raises(SourceError, match="samples' age is unknown"):
        read("prometheus", exporter, url=exporter.base_url)


def test_prometheus_with_the_exporter_down_is_blind_not_idle(exporter):
    exporter.by_query[UP] = answer(vector(({}, "0")))
    exporter.by_query[USAGE] = answer(vector())
    with pytest.raises(SourceError, match="not up"):
        read("prometheus", exporter, url=exporter.base_url)


def test_prometheus_with_no_such_job_names_the_query_to_set(exporter):
    exporter.by_query[UP] = answer(vector())
    with pytest.raises(SourceError, match="GATE_PROMETHEUS_UP_QUERY"):
        read("prometheus", exporter, url=exporter.base_url)


def test_prometheus_query_errors_are_reported(exporter):
    exporter.by_query[UP] = Answer(json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}).encode())
    with pytest.raises(SourceError, match="parse error"):
        read("prometheus", exporter, url=exporter.base_url)


def test_prometheus_with_a_card_node_asks_for_that_nodes_series_only(exporter):
    """The default queries carry the node matcher (the prometheus chart's endpoints job puts the
    exporter pod's node in `node`), so Prometheus answers for that node's exporter only."""
    up, sampled = 'max(up{job="gpu-pod-memory",node="node-b"})', 'max(timestamp(up{job="gpu-pod-memory",node="node-b"}))'
    usage = 'sum by (namespace, pod, node) (gpu_pod_memory_used_bytes{node="node-b"})'
    exporter.by_query[up] = answer(vector(({}, "1")))
    exporter.by_query[sampled] = answer(vector(({}, f"{SCRAPED}")))
    exporter.by_query[usage] = answer(vector(({"namespace": "frigate", "pod": "frigate-7b5f9c8d6-mz4tq", "node": "node-b"}, "2044723200")))
    reading = read("prometheus", exporter, url=exporter.base_url, card=Card("node-b"))
    assert reading.pods == (PodUsage("frigate", "frigate-7b5f9c8d6-mz4tq", 1950 * MiB),)
    assert exporter.queries == [up, sampled, usage]


TWO_NODES = vector(
    ({"namespace": "immich", "pod": "immich-server-6c9d8b7f4d-2xk9p", "node": "node-a"}, "1289748480"),
    ({"namespace": "frigate", "pod": "frigate-7b5f9c8d6-mz4tq", "node": "node-b"}, "2044723200"),
)


@pytest.mark.parametrize(
    ("card", "usage", "message"),
    [
        (Card(), TWO_NODES, r"spans 2 nodes \(node-a, node-b\).*set card.node \(GATE_CARD_NODE\)"),
        (Card("node-c"), TWO_NODES, "series for nodes node-a, node-b but none for node node-c: blind, not idle"),
        (
            Card("node-a"),
            vector(({"namespace": "immich", "pod": "immich-server-6c9d8b7f4d-2xk9p"}, "1289748480")),
            "without a 'node' label",
        ),
    ],
    ids=["two nodes, none set", "other nodes only", "no node label"],
)
def test_prometheus_answers_that_are_not_the_cards_are_blind(exporter, card, usage, message):
    """A query of the operator's own (prometheus.query) need not carry the node matcher: the
    answer is filtered by the node label, and what cannot be told apart is blind."""
    exporter.by_query[UP] = answer(vector(({}, "1")))
    exporter.by_query[SAMPLED] = answer(vector(({}, f"{SCRAPED}")))
    exporter.by_query[USAGE] = answer(usage)
    with pytest.raises(SourceError, match=message):
        read("prometheus", exporter, url=exporter.base_url, card=card, query=USAGE, up_query=UP, sampled_query=SAMPLED)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"warnings": ["remote store 10.0.0.7:10901 did not answer: partial response"]}, "came with warnings \\(remote store"),
        ({"isPartial": True}, "marked partial"),
    ],
    ids=["warnings (Thanos partial response)", "isPartial (VictoriaMetrics)"],
)
def test_a_prometheus_answer_that_may_be_partial_is_blind(exporter, extra, message):
    """Issue 24.7: a vector that may miss series (a store that did not answer) would read as memory
    nobody holds. Today's code trusted it: free 10 GiB read, the card kept."""
    exporter.by_query[UP] = answer(vector(({}, "1")))
    exporter.by_query[SAMPLED] = answer(vector(({}, f"{SCRAPED}")))
    partial = json.loads(vector(({"namespace": "immich", "pod": "immich-server-6c9d8b7f4d-2xk9p"}, "1289748480")))
    exporter.by_query[USAGE] = answer(json.dumps({**partial, **extra}))
    with pytest.raises(SourceError, match=message):
        read("prometheus", exporter, url=exporter.base_url)


@pytest.mark.parametrize(
    "data",
    [
        {"resultType": "scalar", "result": [SCRAPED, "1"]},
        {"resultType": "matrix", "result": []},
        {"resultType": "string", "result": [1, "x"]},
    ],
    ids=["scalar", "matrix", "string"],
)
def test_a_prometheus_answer_that_is_not_a_vector_is_blind(exporter, data):
    exporter.by_query[UP] = answer(json.dumps({"status": "success", "data": data}))
    with pytest.raises(SourceError, match="expected a vector"):
        read("prometheus", exporter, url=exporter.base_url)


# -- what every scraped source refuses -------------------------------------------------------------

GOOD = fixture("gpu-pod-exporter.prom").decode()
HEADER = "# HELP gpu_pod_memory_used_bytes GPU memory used by pod\n# TYPE gpu_pod_memory_used_bytes gauge\n"
SERIES = 'gpu_pod_memory_used_bytes{namespace="a",pod="b-7d9f8b6c5d-x2k4p",container="c",process_name="p",pid="1"}'


@pytest.mark.parametrize(
    ("case", "answer", "message"),
    [
        ("HTTP 500", Answer(b"internal error", status=500), "HTTP 500"),
        ("HTTP 503", Answer(b"", status=503), "HTTP 503"),
        ("empty body", Answer(b""), "no gpu_pod_memory_used_bytes family"),
        ("HTML error page", Answer(b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"), "not Prometheus exposition text"),
        ("truncated", Answer(GOOD[: GOOD.index("pod=") + 8].encode()), "not Prometheus exposition text"),
        ("NaN", Answer((HEADER + SERIES + " NaN\n").encode()), "expected a finite non-negative number"),
        ("+Inf", Answer((HEADER + SERIES + " +Inf\n").encode()), "expected a finite non-negative number"),
        ("negative", Answer((HEADER + SERIES + " -1048576\n").encode()), "expected a finite non-negative number"),
        ("duplicate series", Answer((HEADER + SERIES + " 1048576\n" + SERIES + " 1048576\n").encode()), "duplicate series"),
        ("another family only", Answer(b"# TYPE up gauge\nup 1\n"), "no gpu_pod_memory_used_bytes family"),
        ("MiB instead of bytes", Answer((HEADER + SERIES + " 4500\n").encode()), "under 1 MiB"),
        ("not UTF-8", Answer(b"\xff\xfe\x00gpu"), "not UTF-8"),
        ("redirect", Answer(b"", status=302), "HTTP 302"),
    ],
)
def test_bad_answers_are_one_line_source_errors(exporter, case, answer, message):
    exporter.answers["/metrics"] = answer
    with pytest.raises(SourceError) as error:
        read("gpu-pod-exporter", exporter)
    text = str(error.value)
    assert message in text, case
    assert "127.0.0.1" in text and "\n" not in text


def test_an_enormous_answer_is_cut_off(exporter):
    exporter.serve(HEADER + "# padding\n" * 200_000)
    with pytest.raises(SourceError, match="larger than"):
        read("gpu-pod-exporter", exporter, max_bytes=1_000_000)


def test_a_slow_answer_times_out(exporter):
    exporter.serve(GOOD, delay_seconds=2)
    with pytest.raises(SourceError, match="no answer within 0.5s"):
        read("gpu-pod-exporter", exporter, timeout_seconds=0.5)


def test_a_trickling_answer_hits_the_deadline(exporter):
    exporter.serve(GOOD * 8, trickle_seconds=0.1)
    with pytest.raises(SourceError, match="within 0.5s"):
        read("gpu-pod-exporter", exporter, timeout_seconds=0.5)


def test_a_dropped_connection_is_a_source_error(exporter):
    exporter.serve(GOOD, drop=True)
    with pytest.raises(SourceError, match="127.0.0.1"):
        read("gpu-pod-exporter", exporter)


def test_connection_refused():
    with pytest.raises(SourceError, match="connection refused"):
        make_source("gpu-pod-exporter", SourceConfig(url=f"http://127.0.0.1:{unused_port()}/metrics")).read()


def test_dns_failure(monkeypatch):
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)  # the resolver's answer, without asking one
    with pytest.raises(SourceError, match="gpu-pod-exporter.nvidia.svc:80: cannot connect \\(DNS lookup failed\\)"):
        make_source("gpu-pod-exporter", SourceConfig(url="http://gpu-pod-exporter.nvidia.svc:80/metrics")).read()


def test_unknown_source_name():
    with pytest.raises(ValueError, match="expected one of gpu-pod-exporter, dcgm, nvidia_gpu_exporter, prometheus"):
        make_source("nvml", SourceConfig(url="http://x/"))


# -- parsing is part of the read -------------------------------------------------------------------


def worst_lines(size: int) -> str:
    """The parser's costliest line (many short labels: prometheus-client reads labels character
    by character; bench/parse_cost.py measures the shapes), repeated up to `size` bytes."""
    labels = ",".join(f'l{k}=""' for k in range(60))
    count = size // len(f'gpu_pod_memory_used_bytes{{{labels},pid="0000000"}} 1048576\n')
    return HEADER + "".join(f'gpu_pod_memory_used_bytes{{{labels},pid="{n}"}} 1048576\n' for n in range(count))


def test_a_parse_that_runs_past_the_reads_deadline_is_blind(exporter):
    """Issue 24.8: an answer just under the 4 MiB cap took seconds of CPU to parse after the
    deadline had passed (five times that under the chart's 200m limit), and was then trusted.
    Now the parse has the read's deadline: past it the read is blind, at most one piece late."""
    exporter.serve(worst_lines(4 * 2**20 - 4096))
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"no complete answer within 0.5s \(parsing, \d+ of \d+ series read\)"):
        read("gpu-pod-exporter", exporter, timeout_seconds=0.5)
    assert time.monotonic() - started < 2.5  # the deadline held, not the parse's pace (seconds of CPU)


def test_a_small_answer_of_the_same_shape_parses_within_the_deadline(exporter):
    exporter.serve(worst_lines(64 * 2**10))
    reading = read("gpu-pod-exporter", exporter, timeout_seconds=5)
    assert reading.unattributed_bytes > 0 and not reading.empty


def test_a_series_line_no_exporter_writes_is_refused_before_parsing(exporter):
    exporter.serve(HEADER + 'gpu_pod_memory_used_bytes{namespace="' + "a" * 20_000 + '",pod="p"} 1048576\n')
    with pytest.raises(SourceError, match="a series line of 20055 bytes"):
        read("gpu-pod-exporter", exporter)


def test_families_the_source_does_not_read_are_not_parsed(exporter):
    """A NaN or a duplicate in a family the gate does not read cannot blind it (and costs no parse)."""
    exporter.serve(fixture("gpu-pod-exporter.prom").decode() + "# TYPE go_x gauge\ngo_x NaN\ngo_x 1\ngo_x 1\n")
    assert read("gpu-pod-exporter", exporter).unattributed_bytes == 100 * MiB
