"""The chart against a cluster: what `helm install` refuses, and what an upgrade keeps.

`lookup` answers nothing offline and the SDK cannot feed it, so every read of the cluster goes
through one template, tts.lookup (templates/_lookup.tpl). Here a copy of the real chart has that
one file replaced by a stand-in answering from a given cluster; everything else (the checks, the
Deployment's live replicas, NOTES.txt) renders through the real Helm engine as at install."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm import CHART, documents, one
from helm_python import Chart, HelmError, _native

KUBE_SYSTEM = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}
STANDIN = """{{- define "tts.lookup" -}}
{{- $cluster := `%s` | fromJson -}}
{{- toJson (get $cluster (printf "%%s %%s %%s %%s" .apiVersion .kind .namespace .name) | default dict) -}}
{{- end }}
"""
API_VERSIONS = {
    "Namespace": "v1",
    "PersistentVolumeClaim": "v1",
    "PriorityClass": "scheduling.k8s.io/v1",
    "RuntimeClass": "node.k8s.io/v1",
    "StorageClass": "storage.k8s.io/v1",
    "Deployment": "apps/v1",
    "Service": "v1",
}
CLUSTER_SCOPED = {"Namespace", "PriorityClass", "RuntimeClass", "StorageClass"}


def storage_class(name: str, provisioner: str, default: bool = False) -> dict[str, Any]:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"kind": "StorageClass", "metadata": {"name": name, "annotations": annotations}, "provisioner": provisioner}


def named(kind: str, name: str, **metadata: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, **metadata}}


def server(release: str, replicas: int, name: str = "chatterbox-tts") -> dict[str, Any]:
    annotations = {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": "tts"}
    return {
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "tts", "annotations": annotations},
        "spec": {"replicas": replicas},
    }


# The memory sources: the owner's per-pod exporter, and NVIDIA's dcgm-exporter as its chart
# installs it (chart/ci/k3s-values.yaml) and as gpu-operator does (chart/ci/device-values.yaml).
GPU_POD_EXPORTER = named("Service", "gpu-pod-exporter", namespace="nvidia")
DCGM_EXPORTER = named("Service", "dcgm-exporter", namespace="dcgm-exporter")
OPERATOR_DCGM = named("Service", "nvidia-dcgm-exporter", namespace="gpu-operator")
# The owner's cluster: the seed's classes exist, an NFS class is the default, and his exporter runs.
SEED_CLUSTER = [
    KUBE_SYSTEM,
    named("PriorityClass", "tier-2-gpu"),
    named("RuntimeClass", "nvidia"),
    storage_class("nfs-ssd", "nfs.csi.k8s.io", default=True),
    GPU_POD_EXPORTER,
]
# A stock k3s: no PriorityClass, no RuntimeClass, local-path the default class, and dcgm-exporter
# installed from NVIDIA's chart as the README says.
K3S_CLUSTER = [KUBE_SYSTEM, storage_class("local-path", "rancher.io/local-path", default=True), DCGM_EXPORTER]


def index(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """What lookup answers, keyed as the stand-in asks: one object by name, or a kind's list."""
    answers: dict[str, Any] = {}
    for obj in objects:
        kind = obj["kind"]
        namespace = "" if kind in CLUSTER_SCOPED else obj["metadata"].get("namespace", "tts")
        full = {"apiVersion": API_VERSIONS[kind], **obj}
        answers[f"{API_VERSIONS[kind]} {kind} {namespace} {obj['metadata']['name']}"] = full
        answers.setdefault(f"{API_VERSIONS[kind]} {kind} {namespace} ", {"items": []})["items"].append(full)
    for kind, version in API_VERSIONS.items():  # an empty list, as the API answers, for every kind
        if kind in CLUSTER_SCOPED:
            answers.setdefault(f"{version} {kind}  ", {"items": []})
    return answers


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    path = tmp_path_factory.mktemp("chart") / "tts"
    # The chart as packaged: the unit tests and scenarios out, templates/tests/ (helm test) in.
    shutil.copytree(CHART, path, ignore=lambda where, names: {"tests", "ci"} & set(names) if Path(where) == CHART else set())
    return path


def install(scratch: Path, cluster: list[dict[str, Any]], values: dict[str, Any] | None = None, *, upgrade=False) -> dict[str, str]:
    """Render the real chart as `helm install` (or upgrade) would against the given cluster."""
    glue = scratch / "templates" / "_lookup.tpl"
    assert "tts.lookup" in (CHART / "templates" / "_lookup.tpl").read_text()
    glue.write_text(STANDIN % json.dumps(index(cluster)))
    options = {
        "name": "tts",
        "namespace": "tts",
        "revision": 2 if upgrade else 1,
        "is_install": not upgrade,
        "is_upgrade": upgrade,
        "kube_version": "v1.31.0",
        "api_versions": [],
    }
    chart = Chart.load(scratch)
    return json.loads(_native.call_string("helm_render", chart._raw(), json.dumps(values or {}), json.dumps(options)))


def refusal(scratch: Path, cluster, values=None) -> str:
    with pytest.raises(HelmError) as error:
        install(scratch, cluster, values)
    message = str(error.value).split("): ", 1)[1]
    assert "\n" not in message.strip(), "a refusal is one line"
    return message.strip()


def k3s_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "ci" / "k3s-values.yaml").read_text())


def test_the_seeds_cluster_installs_the_defaults_and_notes_claim_nothing_unchecked(scratch):
    rendered = install(scratch, SEED_CLUSTER)
    assert "NOT CHECKED" not in rendered["tts/templates/NOTES.txt"]
    assert one(documents(rendered), "Pod", "tts-test")  # the whole chart, helm test included


def test_stock_k3s_installs_the_k3s_scenario(scratch):
    rendered = install(scratch, K3S_CLUSTER, k3s_values())
    claim = one(documents(rendered), "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == "local-path" and claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = one(documents(rendered), "Deployment", "chatterbox-tts")["spec"]["template"]["spec"]
    assert "priorityClassName" not in pod and "runtimeClassName" not in pod


def test_stock_k3s_refuses_the_defaults_one_value_at_a_time(scratch):
    """Each refusal names the value to set; setting it reaches the next, then the install passes."""
    values: dict[str, Any] = {}
    assert refusal(scratch, K3S_CLUSTER, values) == (
        'server.priorityClassName: PriorityClass "tier-2-gpu" does not exist; set server.priorityClassName '
        'to an existing class or "", or priorityClass.create=true'
    )
    values["server"] = {"priorityClassName": ""}
    assert refusal(scratch, K3S_CLUSTER, values) == (
        'server.runtimeClassName: RuntimeClass "nvidia" does not exist; set server.runtimeClassName to an existing '
        'class, or "" where the NVIDIA runtime is the node\'s default (k3s, gpu-operator)'
    )
    values["server"]["runtimeClassName"] = ""
    assert refusal(scratch, K3S_CLUSTER, values) == (
        'persistence.accessModes: StorageClass "local-path" (rancher.io/local-path) is node-local and cannot give '
        "ReadWriteMany, so the claim would never bind; set persistence.accessModes to [ReadWriteOnce] "
        "(on the command line: --set 'persistence.accessModes={ReadWriteOnce}')"
    )
    values["persistence"] = {"accessModes": ["ReadWriteOnce"]}
    assert refusal(scratch, K3S_CLUSTER, values) == (
        'gate.metricsUrl: Service "gpu-pod-exporter" does not exist in namespace nvidia, so the gate would be blind every '
        "night; install a memory source (the per-pod gpu-pod-exporter, or NVIDIA's dcgm-exporter with gate.source=dcgm) "
        "and point gate.metricsUrl at its /metrics"
    )
    values["gate"] = {"source": "dcgm", "metricsUrl": "http://dcgm-exporter.dcgm-exporter.svc:9400/metrics", "total": ""}
    install(scratch, K3S_CLUSTER, values)


def test_the_charts_own_priority_class_counts_as_existing(scratch):
    install(
        scratch,
        K3S_CLUSTER,
        {**k3s_values(), "server": {"priorityClassName": "tts-low", "runtimeClassName": ""}, "priorityClass": {"create": True}},
    )
    assert refusal(scratch, K3S_CLUSTER, {**k3s_values(), "server": {"priorityClassName": "tts-low", "runtimeClassName": ""}}).startswith(
        'server.priorityClassName: PriorityClass "tts-low" does not exist'
    )


def test_a_named_storage_class_that_does_not_exist_is_refused_listing_the_classes(scratch):
    values = {"persistence": {"storageClass": "longhorn"}}
    assert refusal(scratch, SEED_CLUSTER, values) == (
        'persistence.storageClass: StorageClass "longhorn" does not exist; set persistence.storageClass to one of: nfs-ssd'
    )


def test_no_default_storage_class_is_refused(scratch):
    cluster = [*SEED_CLUSTER[:3], storage_class("nfs-ssd", "nfs.csi.k8s.io"), GPU_POD_EXPORTER]
    assert refusal(scratch, cluster) == (
        "persistence.storageClass: the cluster has no default StorageClass; set persistence.storageClass (the cluster has: nfs-ssd)"
    )


def test_an_existing_claim_is_not_rechecked(scratch):
    """The chart's claim exists already (an upgrade): its class cannot change, so it is not checked."""
    claim = named("PersistentVolumeClaim", "chatterbox-tts-data", namespace="tts")
    install(scratch, [*SEED_CLUSTER[:3], GPU_POD_EXPORTER, claim], upgrade=True)


def test_a_missing_existing_claim_is_refused(scratch):
    values = {"persistence": {"type": "existingClaim", "existingClaim": "chatterbox-data"}}
    assert refusal(scratch, SEED_CLUSTER, values) == (
        'persistence.existingClaim: PersistentVolumeClaim "chatterbox-data" does not exist in namespace tts; '
        "create it first or set persistence.type"
    )
    install(scratch, [*SEED_CLUSTER, named("PersistentVolumeClaim", "chatterbox-data", namespace="tts")], values)


def test_a_second_release_in_the_namespace_is_refused_naming_server_name(scratch):
    cluster = [*SEED_CLUSTER, server("tts-other", 0)]
    assert refusal(scratch, cluster) == (
        'server.name: Deployment "chatterbox-tts" in namespace tts belongs to release "tts-other"; '
        "set server.name to another name for this release"
    )
    rendered = install(scratch, cluster, {"server": {"name": "chatterbox-tts-2"}})
    assert one(documents(rendered), "Deployment", "chatterbox-tts-2")


@pytest.mark.parametrize("replicas", [0, 1])
def test_an_upgrade_keeps_the_replicas_the_gate_set(scratch, replicas):
    """The release's own Deployment is no collision, and its live count is what the upgrade renders
    (a fixed 0 would evict a bake in progress; see server-deployment.yaml)."""
    rendered = install(scratch, [*SEED_CLUSTER, server("tts", replicas)], upgrade=True)
    assert one(documents(rendered), "Deployment", "chatterbox-tts")["spec"]["replicas"] == replicas


def test_cards_install_on_the_seeds_cluster_and_an_upgrade_keeps_each_cards_replicas(scratch):
    """Each card's server renders its own live count: card a holds its card, card b does not."""
    values = yaml.safe_load((CHART / "ci" / "two-cards-values.yaml").read_text())
    rendered = install(scratch, SEED_CLUSTER, values)
    assert "NOT CHECKED" not in rendered["tts/templates/NOTES.txt"]
    cluster = [*SEED_CLUSTER, server("tts", 1, "tts-node-a"), server("tts", 0, "tts-node-b")]
    objects = documents(install(scratch, cluster, values, upgrade=True))
    assert [one(objects, "Deployment", f"tts-{card}")["spec"]["replicas"] for card in ("node-a", "node-b")] == [1, 0]


def test_a_cards_deployment_another_release_owns_is_refused_naming_the_card(scratch):
    values = yaml.safe_load((CHART / "ci" / "two-cards-values.yaml").read_text())
    assert refusal(scratch, [*SEED_CLUSTER, server("tts-other", 0, "tts-node-b")], values) == (
        'cards.node-b: Deployment "tts-node-b" in namespace tts belongs to release "tts-other"; '
        "rename the card, or install this release under another name"
    )


def test_cards_on_several_nodes_refuse_an_existing_claim_only_one_node_can_mount(scratch):
    values = {
        **yaml.safe_load((CHART / "ci" / "two-cards-values.yaml").read_text()),
        "persistence": {"type": "existingClaim", "existingClaim": "chatterbox-data"},
    }

    def claim(*modes: str) -> dict[str, Any]:
        return {**named("PersistentVolumeClaim", "chatterbox-data", namespace="tts"), "spec": {"accessModes": list(modes)}}

    assert refusal(scratch, [*SEED_CLUSTER, claim("ReadWriteOnce")], values) == (
        'persistence.existingClaim: PersistentVolumeClaim "chatterbox-data" is ReadWriteOnce, not ReadWriteMany, so the cards\' '
        "servers on nodes gpu-node-a, gpu-node-b cannot all mount it; give it ReadWriteMany, or write persistence.type: pvc "
        "with accessModes [ReadWriteOnce] (a claim per card)"
    )
    install(scratch, [*SEED_CLUSTER, claim("ReadWriteMany")], values)


def test_offline_nothing_is_checked_and_notes_say_what(scratch):
    """No kube-system Namespace answers: `helm template` or a client dry run, not a cluster missing
    everything. Nothing is refused, and NOTES.txt lists what `helm install` would check."""
    notes = install(scratch, [])["tts/templates/NOTES.txt"]
    assert "NOT CHECKED (rendered offline" in notes
    for line in (
        "PriorityClass tier-2-gpu exists",
        "RuntimeClass nvidia exists",
        "StorageClass (the default) exists",
        "no other release owns deploy/chatterbox-tts",
        "Service gpu-pod-exporter exists in namespace nvidia (gate.metricsUrl)",
    ):
        assert f"  - {line}" in notes


# -- the memory source: a Service the URL names must exist -------------------------------------


def test_a_missing_memory_source_is_refused_naming_gate_metrics_url(scratch):
    """The default URL is the owner's exporter: elsewhere the gate would install fine and stay
    blind, never taking the card. One line names the value and the two ways to get a source."""
    cluster = [obj for obj in SEED_CLUSTER if obj is not GPU_POD_EXPORTER]
    message = refusal(scratch, cluster)
    assert message.startswith('gate.metricsUrl: Service "gpu-pod-exporter" does not exist in namespace nvidia')
    assert "gpu-pod-exporter" in message.split(";", 1)[1] and "dcgm-exporter" in message.split(";", 1)[1]
    # A Service of that name in another namespace is not the one the URL names.
    assert refusal(scratch, [*cluster, named("Service", "gpu-pod-exporter", namespace="monitoring")]) == message


def test_a_missing_device_source_is_refused_naming_gate_device_url(scratch):
    values = yaml.safe_load((CHART / "ci" / "device-values.yaml").read_text())
    assert refusal(scratch, SEED_CLUSTER, values) == (
        'gate.device.url: Service "nvidia-dcgm-exporter" does not exist in namespace gpu-operator, so the gate would be '
        "blind every night; install NVIDIA's dcgm-exporter (gpu-operator ships it, or its own chart) and point "
        'gate.device.url at its /metrics, or set gate.device.source ""'
    )
    install(scratch, [*SEED_CLUSTER, OPERATOR_DCGM], values)


def test_a_missing_prometheus_is_refused_naming_gate_metrics_url(scratch):
    values = yaml.safe_load((CHART / "ci" / "prometheus-source-values.yaml").read_text())
    message = refusal(scratch, SEED_CLUSTER, values)
    assert message.startswith('gate.metricsUrl: Service "prometheus-server" does not exist in namespace monitoring')
    install(scratch, [*SEED_CLUSTER, named("Service", "prometheus-server", namespace="monitoring")], values)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.43.0.12:9400/metrics",  # by IP
        "http://gpu-pod-exporter:80/metrics",  # a short name: its namespace is the reader's
        "https://gpu.example.com/metrics",  # outside the cluster
    ],
)
def test_a_source_url_that_names_no_in_cluster_service_is_not_looked_up(scratch, url):
    cluster = [obj for obj in SEED_CLUSTER if obj is not GPU_POD_EXPORTER]
    install(scratch, cluster, {"gate": {"metricsUrl": url}})
    offline = install(scratch, [], {"gate": {"metricsUrl": url}})["tts/templates/NOTES.txt"]
    assert "NOT CHECKED" in offline and "(gate.metricsUrl)" not in offline


@pytest.mark.parametrize(
    "url",
    [
        "http://gpu-pod-exporter.nvidia.svc:80/metrics",
        "http://gpu-pod-exporter.nvidia.svc.cluster.local:80/metrics",
        "http://gpu-pod-exporter.nvidia.svc/metrics",
        "https://gpu-pod-exporter.nvidia.svc.cluster.local/metrics",
    ],
)
def test_every_spelling_of_an_in_cluster_service_is_looked_up(scratch, url):
    cluster = [obj for obj in SEED_CLUSTER if obj is not GPU_POD_EXPORTER]
    assert refusal(scratch, cluster, {"gate": {"metricsUrl": url}}).startswith(
        'gate.metricsUrl: Service "gpu-pod-exporter" does not exist in namespace nvidia'
    )
    install(scratch, SEED_CLUSTER, {"gate": {"metricsUrl": url}})


def test_checks_can_be_turned_off_for_an_installer_without_cluster_reads(scratch):
    notes = install(scratch, K3S_CLUSTER, {"clusterChecks": {"enabled": False}})["tts/templates/NOTES.txt"]
    assert "NOT CHECKED (clusterChecks.enabled=false)" in notes
