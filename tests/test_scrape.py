"""Scraping the gate's metrics without the Operator: the chart's prometheus.io/* annotations
(`tts.metrics.podAnnotations`, `tts.metrics.serviceAnnotations` in templates/_scrape.tpl) and,
end to end, a real Prometheus running the prometheus-community chart's `kubernetes-pods` job on
the server pod as the chart renders it, scraping the gate's real exposition on loopback."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from exporter import FakeExporter
from helm import CHART, documents, one, render
from prometheus_client import generate_latest
from promserver import PromServer

from gate.telemetry import WatchMetrics

# The prometheus-community `prometheus` chart's default `kubernetes-pods` job (its values.yaml,
# serverFiles."prometheus.yml"), the job the owner's Prometheus finds annotated pods with.
KUBERNETES_PODS_RELABELLING = [
    {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], "action": "keep", "regex": "true"},
    {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape_slow"], "action": "drop", "regex": "true"},
    {
        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scheme"],
        "action": "replace",
        "regex": "(https?)",
        "target_label": "__scheme__",
    },
    {
        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
        "action": "replace",
        "target_label": "__metrics_path__",
        "regex": "(.+)",
    },
    {
        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_port", "__meta_kubernetes_pod_ip"],
        "action": "replace",
        "regex": "(\\d+);((([0-9]+?)(\\.|$)){4})",
        "replacement": "$2:$1",
        "target_label": "__address__",
    },
    {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"},
    {"source_labels": ["__meta_kubernetes_namespace"], "action": "replace", "target_label": "namespace"},
    {"source_labels": ["__meta_kubernetes_pod_name"], "action": "replace", "target_label": "pod"},
    {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Pending|Succeeded|Failed|Completed", "action": "drop"},
]
POD = "chatterbox-tts-6d5f8b7c9-x7k2m"


def helper_annotations(tmp_path: Path, values: dict, helper: str) -> dict[str, str]:
    """A helper of _scrape.tpl rendered by itself in a scratch chart with the chart's values."""
    scratch = tmp_path / "scratch"
    (scratch / "templates").mkdir(parents=True, exist_ok=True)
    (scratch / "Chart.yaml").write_text("apiVersion: v2\nname: tts\nversion: 0.0.1\n")
    shutil.copy(CHART / "values.yaml", scratch / "values.yaml")
    for name in ("_helpers.tpl", "_scrape.tpl"):
        shutil.copy(CHART / "templates" / name, scratch / "templates" / name)
    (scratch / "templates" / "out.yaml").write_text(f'annotations:\n  {{{{- include "{helper}" . | nindent 2 }}}}\n')
    rendered = helm_python.Chart.load(scratch).render(values, name="tts", namespace="tts")
    return yaml.safe_load(rendered["tts/templates/out.yaml"])["annotations"] or {}


SIDECAR = {"prometheus.io/scrape": "true", "prometheus.io/port": "9402", "prometheus.io/path": "/metrics"}
SERVER = {"prometheus.io/scrape": "true", "prometheus.io/port": "9403", "prometheus.io/path": "/metrics"}


@pytest.mark.parametrize(
    ("values", "pod", "service"),
    [
        # The default: the sidecar's port on the pod (the kubernetes-pods job), the server's own
        # on the Service (kubernetes-service-endpoints: the same pod, another port).
        ({}, SIDECAR, SERVER),
        ({"metrics": {"scrapeAnnotations": "service"}}, SERVER, SIDECAR),
        ({"metrics": {"scrapeAnnotations": "none"}}, {}, {}),  # the ServiceMonitor's set-up
        ({"gate": {"sidecar": {"enabled": False}}}, SERVER, {}),  # the server's port alone, where the value says
    ],
)
def test_annotations_go_to_one_place_only(tmp_path, values, pod, service):
    """Each metrics port is annotated in one place, so no series is scraped twice."""
    assert helper_annotations(tmp_path, values, "tts.metrics.podAnnotations") == pod
    assert helper_annotations(tmp_path, values, "tts.metrics.serviceAnnotations") == service


def sanitized(name: str) -> str:
    """A label name as Prometheus' Kubernetes discovery writes annotation and label keys."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def pod_discovery(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets Prometheus' Kubernetes pod discovery makes of a pod (one per container port),
    as file_sd target groups. Debian's Prometheus is built without the Kubernetes discovery, so
    its `__meta_kubernetes_pod_*` labels are written here, as its documentation lists them."""
    meta = pod["metadata"]
    common = {
        "__meta_kubernetes_namespace": meta["namespace"],
        "__meta_kubernetes_pod_name": meta["name"],
        "__meta_kubernetes_pod_ip": pod["status"]["podIP"],
        "__meta_kubernetes_pod_phase": pod["status"]["phase"],
        **{f"__meta_kubernetes_pod_label_{sanitized(k)}": v for k, v in meta.get("labels", {}).items()},
        **{f"__meta_kubernetes_pod_annotation_{sanitized(k)}": v for k, v in meta.get("annotations", {}).items()},
    }
    groups = []
    for container in pod["spec"]["containers"]:
        for port in container.get("ports", []):
            labels = {
                **common,
                "__meta_kubernetes_pod_container_name": container["name"],
                "__meta_kubernetes_pod_container_port_number": str(port["containerPort"]),
            }
            groups.append({"targets": [f"{pod['status']['podIP']}:{port['containerPort']}"], "labels": labels})
    return groups


@pytest.fixture
def gate_metrics() -> Iterator[FakeExporter]:
    """The gate's own exposition (gate/telemetry.py), served on loopback, as the sidecar of the
    Deployment chatterbox-tts serves it."""
    metrics = WatchMetrics(deployment="chatterbox-tts")
    metrics.free_bytes.set(9 * 2**30)
    metrics.floor_bytes.set(6 * 2**30)
    metrics.last_run.set(time.time())
    metrics.decisions.labels("guard", "holding").inc()
    with FakeExporter() as server:
        server.serve(generate_latest(metrics.registry))
        yield server


def test_the_owners_prometheus_scrapes_the_annotated_server_pod(tmp_path, gate_metrics):
    """The server pod as the chart renders it (its labels and containers), annotated by the chart
    for the sidecar's port, found by the kubernetes-pods job: the gate's series arrive labelled
    with the namespace the alerts and the dashboard select on."""
    port = gate_metrics.port
    values = {"gate": {"sidecar": {"metricsPort": port}}}
    template = one(documents(render(values)), "Deployment", "chatterbox-tts")["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": POD,
            "namespace": "tts",
            "uid": "0b5c3f2e-1111-4a4a-9c9c-000000000001",
            "resourceVersion": "1",
            "labels": template["metadata"]["labels"],
            "annotations": helper_annotations(tmp_path, values, "tts.metrics.podAnnotations"),
        },
        "spec": {**template["spec"], "nodeName": "gpu-node"},
        "status": {"phase": "Running", "podIP": "127.0.0.1", "hostIP": "127.0.0.1"},
    }
    discovered = tmp_path / "pods.json"
    discovered.write_text(json.dumps(pod_discovery(pod)))
    job = {
        "job_name": "kubernetes-pods",
        "honor_labels": True,
        "file_sd_configs": [{"files": [str(discovered)]}],
        "relabel_configs": KUBERNETES_PODS_RELABELLING,
    }
    with PromServer(tmp_path / "prometheus", scrape_configs=[job]) as server:
        [free] = server.wait_for('gate_free_bytes{namespace="tts",deployment="chatterbox-tts"}', timeout=30)
        assert free["metric"] == {
            "__name__": "gate_free_bytes",
            "namespace": "tts",
            "deployment": "chatterbox-tts",
            "pod": POD,
            "job": "kubernetes-pods",
            "instance": f"127.0.0.1:{port}",
            **{sanitized(k): v for k, v in template["metadata"]["labels"].items()},
        }
        assert float(free["value"][1]) == 9 * 2**30
        # The dashboard's free-memory panel and the breach alert select the gate by its Deployment.
        gate = 'namespace="tts",deployment="chatterbox-tts"'
        [headroom] = server.query(f"max(gate_free_bytes{{{gate}}}) - max(gate_floor_bytes{{{gate}}})")
        assert float(headroom["value"][1]) == 3 * 2**30
        # Scraped once, though both containers' ports are discovered.
        assert len(server.query('up{job="kubernetes-pods"}')) == 1
