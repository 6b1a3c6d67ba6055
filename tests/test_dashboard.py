"""The Grafana dashboard ConfigMap: labelled for the sidecar, no hard-coded datasource, and every
panel's PromQL evaluated by a real Prometheus over a night where the server held the card (the
"late-start" sample night, scraped every 2 minutes, plus the gate sidecar's and
kube-state-metrics' series for the hold). The chart's alert rules are loaded into the same server,
so the real engine evaluates them too."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from helm import documents, render
from prometheus_client import generate_latest
from promserver import EXPORTER_INSTANCE, EXPORTER_JOB, PromServer, Series, night_series, sample_night, utc

from gate.telemetry import WatchMetrics

MIB, GIB = 2**20, 2**30
STEP = 120  # the owner's scrape interval
VALUES = {
    "metrics": {
        "grafanaDashboard": {"enabled": True},
        "alertRulesConfigMap": {"enabled": True},
        "demand": {"marginMinutes": 10},
    },
    "gate": {"demand": {"url": "http://tripit.tripit.svc.cluster.local:8080/api/tour/tts-queue", "idleAfter": "10m"}},
}
# The night: residents leave room at 03:10; the gate takes the card at 03:12 and the window closes
# it at 06:00 (November: London is UTC). The model is ready at 03:16; the gate is blind 04:00-04:06.
NIGHT = "late-start"
ENTERED, READY, WINDOW_START, WINDOW_END = (
    utc("2026-11-13T03:12:00Z"),
    utc("2026-11-13T03:16:00Z"),
    utc("2026-11-13T02:00:00Z"),
    utc("2026-11-13T06:00:00Z"),
)
BLIND = (utc("2026-11-13T04:00:00Z"), utc("2026-11-13T04:06:00Z"))
SERVER_POD = "chatterbox-tts-6d5f8b7c9-x7k2m"
# Substitutes for Grafana's own variables, should a panel use them.
GRAFANA_VARIABLES = {"$__rate_interval": "10m", "$__interval": "2m", "$__range": "1h"}


def dashboard(values: dict) -> tuple[dict, dict]:
    [configmap] = [o for o in documents(render(values)) if o["metadata"]["name"].endswith("-dashboard")]
    [text] = configmap["data"].values()
    return configmap, json.loads(text)


def panels(board: dict) -> list[dict]:
    """The panels that query (a row only groups the panels below it)."""
    return [panel for panel in board["panels"] if panel["type"] != "row"]


def targets(board: dict) -> Iterator[tuple[str, str]]:
    """Each panel's queries as Grafana sends them: its own variables, and the gate chosen (the
    `gate` variable's default, the first gate's server)."""
    [gate] = [v for v in board["templating"]["list"] if v["name"] == "gate"]
    for panel in panels(board):
        for target in panel["targets"]:
            expr = target["expr"].replace("$gate", gate["current"]["value"])
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            yield panel["title"], expr


def held_night_series() -> list[Series]:
    """What the owner's Prometheus holds for the night: the exporter's residents (the sample
    night), the server's own memory, the sidecar's gate_* series while the server pod runs, and
    kube-state-metrics' Deployment and Job-pod series."""
    trace = sample_night(NIGHT)
    series = night_series(trace, every_seconds=STEP)
    extra: dict[tuple, Series] = {}

    def add(name: str, labels: dict[str, str], when: datetime, value: float) -> None:
        key = (name, tuple(sorted(labels.items())))
        extra.setdefault(key, Series(name, labels)).samples.append((when.timestamp(), float(value)))

    # The gate's series carry the Deployment it scales (gate/telemetry.py); another gate in the
    # namespace (another release's, or another card's) holds its card all night, blind: no panel
    # of this gate's may count it.
    sidecar = {"namespace": "tts", "deployment": "chatterbox-tts", "pod": SERVER_POD, "job": "kubernetes-pods"}
    other = {"namespace": "tts", "deployment": "narrator", "pod": "narrator-5d4c8b7f6-q2w9z", "job": "kubernetes-pods"}
    # The server's own metrics (the image's layer), through the Service's annotations.
    layer = {"namespace": "tts", "service": "chatterbox-tts", "job": "kubernetes-service-endpoints", "instance": "10.0.0.7:9403"}
    made = {"audio": 0.0, "synthesis": 0.0, "chunks": 0, "requests": 0}
    ksm = {"job": "kubernetes-service-endpoints", "namespace": "tts"}
    deployment = {**ksm, "deployment": "chatterbox-tts"}
    decisions = {"holding": 0, "blind": 0}
    failures = 0
    t = trace.start
    while t <= trace.end:
        held = ENTERED <= t < WINDOW_END
        add("kube_deployment_spec_replicas", deployment, t, 1 if held else 0)
        add("kube_deployment_status_replicas_ready", deployment, t, 1 if READY <= t < WINDOW_END else 0)
        add("kube_deployment_spec_replicas", {**ksm, "deployment": "narrator"}, t, 3)
        add("kube_deployment_status_replicas_ready", {**ksm, "deployment": "narrator"}, t, 3)
        for name, value in (("gate_total_bytes", 24564 * MIB), ("gate_floor_bytes", 9 * GIB), ("gate_blind", 1), ("gate_replicas", 3)):
            add(name, other, t, value)
        add("gate_decisions_total", {**other, "command": "guard", "reason": "blind"}, t, 1000 * (t - trace.start).total_seconds())
        add("gate_demand_queued", other, t, 99)
        # The gate's CronJobs in the window: window-up at 02:00, guard every 5 minutes; each pod
        # is listed for the 4 minutes it lingers.
        for cronjob, every in (("tts-window-up", 24 * 60), ("tts-guard", 5)):
            for minutes_ago in range(0, 4):
                created = t - timedelta(minutes=minutes_ago)
                if WINDOW_START <= created < WINDOW_END and (created - WINDOW_START).total_seconds() % (every * 60) == 0:
                    job = f"{cronjob}-{int(created.timestamp() // 60)}"
                    add(
                        "kube_pod_owner",
                        {**ksm, "pod": f"{job}-abcde", "owner_kind": "Job", "owner_name": job, "owner_is_controller": "true"},
                        t,
                        1,
                    )
        if held:
            own = (3.9 if t < READY else 4.5) * GIB
            add(
                "gpu_pod_memory_used_bytes",
                {
                    "namespace": "tts",
                    "pod": SERVER_POD,
                    "container": "server",
                    "process_name": "python3",
                    "pid": "4242",
                    "job": EXPORTER_JOB,
                    "instance": EXPORTER_INSTANCE,
                },
                t,
                own,
            )
            snapshot = trace.fresh(t)
            residents = sum(p.used_bytes for p in snapshot.pods) if snapshot else 0
            blind = BLIND[0] <= t < BLIND[1]
            decisions["blind" if blind else "holding"] += STEP // 10  # the sidecar checks every 10 s
            failures += STEP // 10 if blind else 0
            total = 15360 * MIB
            for name, value in (
                ("gate_total_bytes", total),
                ("gate_floor_bytes", 6 * GIB),
                ("gate_resident_bytes", residents),
                ("gate_own_bytes", own),
                ("gate_free_bytes", total - residents),
                ("gate_blind", 1 if blind else 0),
                ("gate_in_window", 1),
                ("gate_replicas", 1),
                ("gate_last_run_timestamp_seconds", t.timestamp() - 5),
                ("gate_scrape_failures_total", failures),
                ("gate_demand_queued", max(0, 5 - int((t - ENTERED).total_seconds() // 900))),
            ):
                add(name, sidecar, t, value)
            for reason, count in decisions.items():
                add("gate_decisions_total", {**sidecar, "command": "guard", "reason": reason}, t, count)
            if t >= READY:
                # Four 15-second chunks per 2 minutes, at half real time; one request a chunk.
                made["audio"] += 60.0
                made["synthesis"] += 30.0
                made["chunks"] += 4
                made["requests"] += 4
                for name, labels, value in (
                    ("tts_server_audio_seconds_total", {}, made["audio"]),
                    ("tts_server_synthesis_seconds_sum", {}, made["synthesis"]),
                    ("tts_server_synthesis_seconds_count", {}, made["chunks"]),
                    ("tts_server_realtime_factor_baseline", {}, 0.5),
                    ("tts_server_chunks_total", {"outcome": "ok"}, made["chunks"]),
                    ("tts_server_requests_total", {"endpoint": "/v1/audio/speech", "code": "200"}, made["requests"]),
                    ("tts_server_host_memory_bytes", {}, 2.6 * GIB),
                    ("tts_server_model_hooks", {}, 3),
                    ("tts_server_park_state", {"state": "serving"}, 1),
                    ("tts_server_park_state", {"state": "parked"}, 0),
                ):
                    add(name, {**layer, **labels}, t, value)
        t += timedelta(seconds=STEP)
    return series + list(extra.values())


@pytest.fixture(scope="module")
def card_night(tmp_path_factory) -> Iterator[PromServer]:
    rules = tmp_path_factory.mktemp("rules") / "tts-gate-alerts.yml"
    [configmap] = [o for o in documents(render(VALUES)) if o["metadata"]["name"].endswith("-alert-rules")]
    rules.write_text(next(iter(configmap["data"].values())))
    server = PromServer(tmp_path_factory.mktemp("prometheus-card-night"), rule_files=[rules])
    server.backfill(held_night_series())
    with server:
        yield server


def test_every_panel_query_returns_data_for_the_night_the_server_held_the_card(card_night):
    trace = sample_night(NIGHT)
    _, board = dashboard(VALUES)
    empty = []
    for title, expr in targets(board):
        assert not re.search(r"\$[A-Za-z_]", expr), f"{title}: a Grafana variable the test does not substitute: {expr}"
        result = card_night.query_range(expr, trace.start, trace.end, STEP)
        points = [datetime.fromtimestamp(t, UTC) for s in result for t, _ in s["values"]]
        if not any(ENTERED <= p < WINDOW_END for p in points):
            empty.append(f"{title}: {expr}")
    assert empty == []


def test_the_panels_tell_the_story_of_the_night(card_night):
    def at(expr: str, when: str) -> dict[str, float]:
        return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1]) for r in card_night.query(expr, utc(when))}

    _, board = dashboard(VALUES)
    exprs = {title: [] for title, _ in targets(board)}
    for title, expr in targets(board):
        exprs[title].append(expr)
    memory, total, limit = exprs["GPU memory by namespace"]
    assert at(memory, "2026-11-13T04:30:00Z")['{"namespace": "tts"}'] == 4.5 * GIB
    assert '{"namespace": "tts"}' not in at(memory, "2026-11-13T02:30:00Z")
    # The total and the limit are the gate's last known values: still drawn after the pod is gone.
    assert list(at(total, "2026-11-13T06:20:00Z").values()) == [15360 * MIB]
    assert list(at(limit, "2026-11-13T04:30:00Z").values()) == [15360 * MIB - 6 * GIB]
    desired, ready = exprs["Server replicas"]
    assert list(at(desired, "2026-11-13T03:14:00Z").values()) == [1]
    assert list(at(ready, "2026-11-13T03:14:00Z").values()) == [0]
    [decisions] = exprs["Gate decisions by reason"]
    # 04:00-04:10 holds six scrapes: blind ones at 04:02 and 04:04 add 12 each (the 04:00 one is the
    # window's first sample), holding ones at 04:06-04:10 add 12 each.
    assert at(decisions, "2026-11-13T04:10:00Z") == {'{"reason": "blind"}': 24.0, '{"reason": "holding"}': 36.0}
    [jobs] = exprs["Gate Job pods per hour"]
    assert at(jobs, "2026-11-13T02:59:00Z") == {'{"cronjob": "tts-guard"}': 12.0, '{"cronjob": "tts-window-up"}': 1.0}
    made, per_ten = exprs["Narration made tonight"]
    # Ready at 03:16, 60 s of audio per 2-minute scrape to 06:00: at 06:00, the night's 82 scrapes.
    assert list(at(made, "2026-11-13T06:00:00Z").values()) == [pytest.approx(82 * 60, rel=0.05)]
    assert list(at(per_ten, "2026-11-13T04:30:00Z").values()) == [pytest.approx(300, rel=0.05)]
    factor, baseline = exprs["Real-time factor"]
    assert list(at(factor, "2026-11-13T04:30:00Z").values()) == [pytest.approx(0.5)]
    assert list(at(baseline, "2026-11-13T04:30:00Z").values()) == [0.5]
    [queue] = exprs["Queue depth"]
    assert list(at(queue, "2026-11-13T05:00:00Z").values()) == [0]


def test_the_alert_rules_load_and_evaluate_in_a_real_prometheus(card_night):
    deadline = time.monotonic() + 15
    while True:
        rules = [r for g in card_night.api("rules")["groups"] for r in g["rules"]]
        if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(rules) == 12
    assert [(r["name"], r["health"], r.get("lastError", "")) for r in rules if r["health"] != "ok"] == []


def test_the_dashboard_names_only_series_the_gate_serves():
    """Every gate_* name in the dashboard and the alerts is one gate/telemetry.py exports."""
    metrics = WatchMetrics()
    metrics.decisions.labels("guard", "holding").inc()
    metrics.api_errors.labels("timeout").inc()
    served = set(re.findall(r"^(gate_\w+?)(?:\{| )", generate_latest(metrics.registry).decode(), re.M))
    _, board = dashboard(VALUES)
    configmap = next(o for o in documents(render(VALUES)) if o["metadata"]["name"].endswith("-alert-rules"))
    named = set(re.findall(r"\b(gate_\w+)", " ".join(e for _, e in targets(board)) + next(iter(configmap["data"].values()))))
    assert named <= served, named - served


def test_the_dashboard_and_the_alerts_name_only_series_the_servers_layer_serves():
    """Every tts_server_* name is one docker/tts_layer exports (its real registry, every family filled)."""
    import torch
    from tts_layer.layer import live_metrics
    from tts_layer.metrics import ServerMetrics
    from tts_layer.parking import Controller

    layer = ServerMetrics()
    layer.requests.labels("/v1/audio/speech", "200").inc()
    layer.chunk_done(2.0, 4.0)
    layer.fix_applied.labels("attention-hooks").set(1)
    model = torch.nn.Linear(2, 2)
    live_metrics(layer, Controller(lambda: model, metrics=layer), lambda: model)
    served = set(re.findall(r"^(tts_server_\w+?)(?:\{| )", generate_latest(layer.registry).decode(), re.M))
    _, board = dashboard(VALUES)
    configmap = next(o for o in documents(render(VALUES)) if o["metadata"]["name"].endswith("-alert-rules"))
    named = set(re.findall(r"\b(tts_server_\w+)", " ".join(e for _, e in targets(board)) + next(iter(configmap["data"].values()))))
    assert named and named <= served, named - served


def test_the_configmap_is_labelled_for_the_sidecar_and_off_by_default():
    assert not [o for o in documents(render({})) if o["metadata"]["name"].endswith("-dashboard")]
    configmap, board = dashboard({"metrics": {"grafanaDashboard": {"enabled": True}}})
    assert configmap["metadata"]["namespace"] == "tts"
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "GPU"}
    assert "Queue depth" not in [p["title"] for p in board["panels"]]  # no demand queue configured
    custom = {
        "enabled": True,
        "namespace": "monitoring",
        "label": "grafana.io/dashboard",
        "labelValue": "tts",
        "folderAnnotation": "k8s-sidecar-target-directory",
        "folder": "/tmp/dashboards/GPU",
    }
    configmap, _ = dashboard({"metrics": {"grafanaDashboard": custom}})
    assert configmap["metadata"]["namespace"] == "monitoring"
    assert configmap["metadata"]["labels"]["grafana.io/dashboard"] == "tts"
    assert configmap["metadata"]["annotations"] == {"k8s-sidecar-target-directory": "/tmp/dashboards/GPU"}
    configmap, _ = dashboard({"metrics": {"grafanaDashboard": {**custom, "folder": ""}}})
    assert "annotations" not in configmap["metadata"]


def test_the_datasource_is_a_variable_and_no_uid_is_hard_coded():
    _, board = dashboard(VALUES)
    [variable] = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert (variable["name"], variable["query"]) == ("datasource", "prometheus")

    def uids(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "uid":
                    yield value
                yield from uids(value)
        elif isinstance(node, list):
            for item in node:
                yield from uids(item)

    assert set(uids(board)) == {"${datasource}"}
    assert "uid" not in board and "id" not in board
    for panel in panels(board):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])


def test_selectors_follow_the_values():
    values = {
        "metrics": {
            "grafanaDashboard": {"enabled": True},
            "kubeStateMetricsSelector": 'job="kube-state-metrics"',
            "exporterSelector": 'job="gpu"',
        }
    }
    _, board = dashboard(values)
    exprs = " ".join(e for _, e in targets(board))
    assert 'gpu_pod_memory_used_bytes{job="gpu"}' in exprs
    assert 'gpu_pod_memory_used_bytes{job="gpu",namespace="tts",pod=~"chatterbox-tts-[a-z0-9]+-[a-z0-9]+"}' in exprs
    assert 'kube_deployment_spec_replicas{job="kube-state-metrics",namespace="tts",deployment="chatterbox-tts"}' in exprs


def test_the_gate_variable_lists_every_cards_gate():
    """With cards the dashboard shows one gate at a time: the variable offers each card's server,
    the first chosen, and the Job panel counts every card's CronJobs by name."""
    cards = {"cards": {"node-a": {"node": "gpu-a"}, "node-b": {"node": "gpu-b"}}}
    _, board = dashboard({**VALUES, **cards})
    [gate] = [v for v in board["templating"]["list"] if v["name"] == "gate"]
    assert (gate["query"], gate["current"]["value"]) == ("tts-node-a,tts-node-b", "tts-node-a")
    exprs = dict(targets(board))
    assert 'gate_blind{namespace="tts",deployment="tts-node-a"}' in exprs["Gate blind"]
    assert "tts-node-b-guard" in exprs["Gate Job pods per hour"]
    rendered = yaml.safe_dump(board)
    assert "@" not in "".join(re.findall(r"@[A-Z_]+@", rendered))
