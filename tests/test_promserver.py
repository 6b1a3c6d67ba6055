"""The real-Prometheus harness (tests/promserver.py) and the gate's Prometheus source against it."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from promserver import UP_QUERY, PromError, Series, backfill, night_series, openmetrics, sample_night, utc

from gate.sources import SourceConfig, SourceError
from gate.sources.prometheus import Source, read_range
from gate.trace import from_scrapes


def by_time_and_pod(result) -> dict[tuple[float, str, str], int]:
    return {
        (float(stamp), series["metric"]["namespace"], series["metric"]["pod"]): int(float(value))
        for series in result
        for stamp, value in series["values"]
    }


def test_a_backfilled_night_answers_a_range_query_with_every_recorded_byte(prometheus_nights):
    trace = sample_night("busy")
    result = prometheus_nights.query_range(
        "sum by (namespace, pod) (gpu_pod_memory_used_bytes)", trace.start, trace.end, trace.step_seconds
    )
    expected = {(s.time.timestamp(), p.namespace, p.pod): p.used_bytes for s in trace.snapshots for p in s.pods}
    assert by_time_and_pod(result) == expected


def test_an_outage_is_up_0_and_a_gap_in_the_memory_series(prometheus_nights):
    start, end = utc("2026-11-17T02:30:00Z"), utc("2026-11-17T03:15:00Z")
    [up] = prometheus_nights.query_range('up{job="gpu-pod-memory"}', start, end, 60)
    down = [datetime.fromtimestamp(t, UTC) for t, v in up["values"] if v == "0"]
    assert (down[0], down[-1]) == (utc("2026-11-17T02:40:00Z"), utc("2026-11-17T03:04:00Z"))
    [memory] = prometheus_nights.query_range("sum(gpu_pod_memory_used_bytes)", start, end, 60)
    seen = {datetime.fromtimestamp(t, UTC) for t, _ in memory["values"]}
    assert not seen & set(down)
    assert len(seen) == len(up["values"]) - len(down)


def test_the_gate_reads_a_night_back_from_the_real_server(prometheus_nights):
    """read_range over the exporter-outage night gives back the recorded trace: every snapshot,
    and no snapshot during the outage (up is 0 there)."""
    trace = sample_night("exporter-outage")
    config = SourceConfig(url=prometheus_nights.url, up_query=UP_QUERY)
    rows, up = read_range(config, trace.start, trace.end, trace.step_seconds)
    assert from_scrapes(rows, up, trace.name).snapshots == trace.snapshots


def test_the_gate_source_reads_an_instant_query_at_now(prometheus_factory):
    """`Source.read` queries at "now": a night shifted to end a moment ago is what it sees."""
    trace = sample_night("late-start")
    now = datetime.now(UTC).replace(microsecond=0)
    server = prometheus_factory(series=night_series(trace, ending_at=now - timedelta(seconds=5)))
    reading = Source(SourceConfig(url=server.url, up_query=UP_QUERY)).read()
    assert reading.pods == trace.snapshots[-1].pods


def test_an_instant_answer_is_stamped_with_the_evaluation_time_not_the_sample_time(prometheus_factory):
    """What Prometheus really answers: an instant vector's timestamp is the query's evaluation
    time; only `timestamp(...)` gives when the sample was taken."""
    now = datetime.now(UTC).replace(microsecond=0)
    taken = now - timedelta(seconds=90)
    server = prometheus_factory(series=[Series("gate_free_bytes", {}, [(taken.timestamp(), 1.0)])])
    [plain] = server.query("gate_free_bytes", at=now)
    [stamp] = server.query("timestamp(gate_free_bytes)", at=now)
    assert float(plain["value"][0]) == now.timestamp()
    assert float(stamp["value"][1]) == taken.timestamp()


def test_the_gate_source_is_blind_when_the_exporter_is_down_at_now(prometheus_factory):
    now = datetime.now(UTC)
    down = Series.over("up", {"job": "gpu-pod-memory", "instance": "x"}, now - timedelta(minutes=10), now, 15, 0)
    server = prometheus_factory(series=[down])
    with pytest.raises(SourceError, match="not up"):
        Source(SourceConfig(url=server.url, up_query=UP_QUERY)).read()


def test_a_live_scrape_stamps_samples_with_the_scrape_time(prometheus_factory, exporter):
    exporter.serve(
        "# HELP gpu_pod_memory_used_bytes GPU memory used by process\n"
        "# TYPE gpu_pod_memory_used_bytes gauge\n"
        'gpu_pod_memory_used_bytes{namespace="immich",pod="immich-ml-1",container="ml",process_name="python",pid="7"} 1048576\n'
    )
    before = time.time()
    server = prometheus_factory(scrape=[exporter.url], scrape_interval="1s")
    [sample] = server.wait_for("timestamp(gpu_pod_memory_used_bytes)")
    assert before - 1 <= float(sample["value"][1]) <= time.time()
    assert server.query(UP_QUERY)[0]["value"][1] == "1"
    reading = Source(SourceConfig(url=server.url, up_query=UP_QUERY)).read()
    assert [(p.namespace, p.pod, p.used_bytes) for p in reading.pods] == [("immich", "immich-ml-1", 1048576)]


def test_extra_series_are_backfilled_next_to_a_night(prometheus_factory):
    trace = sample_night("quiet")
    floor = Series.over("gate_floor_bytes", {"job": "tts-gate"}, trace.start, trace.end, 120, 6 * 2**30)
    server = prometheus_factory(series=[floor], nights=["quiet"])
    at = trace.start + timedelta(hours=1)
    assert server.query("gate_floor_bytes", at)[0]["value"][1] == str(6 * 2**30)
    assert server.query("count(gpu_pod_memory_used_bytes)", at)[0]["value"][1] == "4"


def test_bad_promql_is_an_error_not_an_empty_answer(prometheus_nights):
    with pytest.raises(PromError, match="bad_data"):
        prometheus_nights.query("sum by (")


def test_openmetrics_text_merges_series_escapes_labels_and_ends_with_eof():
    text = openmetrics(
        [
            Series("up", {"job": "a"}, [(20.0, 1)]),
            Series("m", {"v": 'say "hi"\\\n'}, [(1.5, 0.25)]),
            Series("up", {"job": "a"}, [(10.0, 0)]),
        ]
    )
    assert text == (
        '# TYPE m unknown\nm{v="say \\"hi\\"\\\\\\n"} 0.25 1.500\n# TYPE up unknown\nup{job="a"} 0 10.000\nup{job="a"} 1 20.000\n# EOF\n'
    )
    with pytest.raises(ValueError, match="same time"):
        openmetrics([Series("up", {}, [(1.0, 1)]), Series("up", {}, [(1.0, 0)])])


def test_promtool_refusing_the_input_fails_loudly(tmp_path):
    with pytest.raises(RuntimeError, match="promtool backfill failed"):
        backfill([Series("bad name", {}, [(1.0, 1)])], tmp_path / "data")


def test_a_night_scraped_every_two_minutes_keeps_one_sample_per_scrape():
    trace = sample_night("exporter-outage")
    series = night_series(trace, every_seconds=120)
    up = next(s for s in series if s.name == "up")
    assert all(b - a == 120 for (a, _), (b, _) in zip(up.samples, up.samples[1:], strict=False))
    memory = defaultdict(int)
    for s in series:
        if s.name != "up":
            for t, _ in s.samples:
                memory[t] += 1
    assert {t for t, v in up.samples if v == 1} == set(memory)
