"""The chart through the real Helm engine: every object valid on the oldest and newest supported
Kubernetes, lint clean, Chart.yaml as chart-testing checks it, the schema's refusals, restricted
pods, and replicas that Helm never takes from the gate."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import helm_python
import kubernetes_validate
import pytest
import yamale
import yaml
from gatedoc import assert_refused_at_render
from helm import CHART, NEWEST_KUBE, OLDEST_KUBE, by_kind, documents, one, render
from helm_python import HelmValuesError
from helm_python.errors import HelmError
from pss import pod_spec, violations

ROOT = CHART.parent
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
CRD_GROUPS = ("monitoring.coreos.com/",)  # Prometheus Operator kinds: not in kubernetes-validate


def scenario_values(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
@pytest.mark.parametrize("kube", [OLDEST_KUBE, NEWEST_KUBE])
def test_every_object_validates_strictly(scenario, kube):
    objects = documents(render(scenario_values(scenario), kube_version=kube))
    assert objects
    for obj in objects:
        if obj["apiVersion"].startswith(CRD_GROUPS):
            assert obj["kind"] in ("ServiceMonitor", "PodMonitor", "PrometheusRule")
            continue
        kubernetes_validate.validate(obj, kube, strict=True)


def test_install_with_defaults_creates_what_the_seed_created():
    """The seed's objects, its three CronJobs (status is suspended: it makes no pods), the gate's
    controller and the Lease it keeps its state in, and the Job that downloads the weights (its
    name ends in a hash of its pod)."""
    objects = documents(render({}))
    kinds = sorted((o["kind"], re.sub(r"-[0-9a-f]{10}$", "-<hash>", o["metadata"]["name"])) for o in objects)
    assert kinds == [
        ("ConfigMap", "chatterbox-tts-config"),
        ("ConfigMap", "tts-gate-config"),
        ("CronJob", "tts-guard"),
        ("CronJob", "tts-status"),
        ("CronJob", "tts-window-down"),
        ("CronJob", "tts-window-up"),
        ("Deployment", "chatterbox-tts"),
        ("Deployment", "tts-gate"),
        ("Job", "tts-warmup-<hash>"),
        ("Lease", "chatterbox-tts-gate"),
        ("NetworkPolicy", "chatterbox-tts"),
        ("NetworkPolicy", "tts-gate"),
        ("PersistentVolumeClaim", "chatterbox-tts-data"),
        ("Pod", "tts-test"),
        ("Role", "tts-gate"),
        ("RoleBinding", "tts-gate"),
        ("Secret", "chatterbox-tts-control"),
        ("Service", "chatterbox-tts"),
        ("ServiceAccount", "tts-gate"),
    ]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_lint_is_clean(scenario):
    result = helm_python.lint(CHART, scenario_values(scenario), strict=True, kube_version="v1.31.0", namespace="tts")
    assert result["errors"] == []
    # Only the INFO that the chart has no icon (it has none to point at) is left.
    assert [m for m in result["messages"] if m["severity"] > 1] == []


def test_chart_declares_the_kubernetes_it_needs():
    """CronJob timeZone is GA from 1.27. (`helm install` enforces kubeVersion; the SDK's offline
    render does not, so the declaration itself is what is checked here.)"""
    metadata = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert metadata["kubeVersion"] == ">=1.27.0-0"
    assert all(c["spec"]["timeZone"] == "Europe/London" for c in by_kind(documents(render({})), "CronJob"))


def test_chart_yaml_is_what_chart_testing_accepts():
    schema = yamale.make_schema(str(ROOT / "ct" / "chart_schema.yaml"))
    data = yamale.make_data(str(CHART / "Chart.yaml"))
    yamale.validate(schema, data, strict=True)


def test_yamllint_is_clean():
    files = [CHART / "Chart.yaml", CHART / "values.yaml", *SCENARIOS, *sorted((CHART / "tests").glob("*.yaml")), ROOT / "ct.yaml"]
    result = subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", "-c", str(ROOT / "ct" / "lintconf.yaml"), *map(str, files)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ct_config_lints_this_chart_with_its_unit_tests():
    config = yaml.safe_load((ROOT / "ct.yaml").read_text())
    assert config["charts"] == ["chart"]
    assert config["lint-conf"] == "ct/lintconf.yaml" and config["chart-yaml-schema"] == "ct/chart_schema.yaml"
    assert any("helm unittest" in command for command in config["additional-commands"])


def test_helmignore_keeps_template_tests_and_drops_unit_tests():
    patterns = (CHART / ".helmignore").read_text().splitlines()
    assert "/tests/" in patterns and "tests/" not in patterns
    packaged = {f["name"] for f in helm_python.Chart.load(CHART).templates}
    assert "templates/tests/test-gate.yaml" in packaged


# -- replicas: 0 on install, the live count on upgrade --------------------------------------------


def test_install_renders_zero_replicas():
    assert one(documents(render({})), "Deployment", "chatterbox-tts")["spec"]["replicas"] == 0


def test_upgrade_without_a_live_deployment_renders_zero():
    """`lookup` answers nothing offline (helm template, dry runs): the count falls back to 0."""
    assert one(documents(render({}, is_upgrade=True, revision=2)), "Deployment", "chatterbox-tts")["spec"]["replicas"] == 0


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        ({}, "0"),  # no Deployment yet: install
        ({"spec": {"replicas": 1}}, "1"),  # the gate holds the card: an upgrade keeps it
        ({"spec": {"replicas": 0}}, "0"),
        ({"spec": {}}, "0"),
    ],
)
def test_live_replicas_helper_through_the_real_engine(tmp_path, live, expected):
    """`lookup` cannot be fed offline, so the helper the Deployment renders its count with is
    rendered by itself in a scratch chart, from the object a lookup would have returned."""
    scratch = tmp_path / "scratch"
    (scratch / "templates").mkdir(parents=True)
    (scratch / "Chart.yaml").write_text("apiVersion: v2\nname: tts\nversion: 0.0.1\n")
    shutil.copy(CHART / "templates" / "_helpers.tpl", scratch / "templates" / "_helpers.tpl")
    (scratch / "templates" / "replicas.yaml").write_text('replicas: {{ include "tts.liveReplicas" .Values.live }}\n')
    rendered = helm_python.Chart.load(scratch).render({"live": live}, name="tts", namespace="tts")
    assert rendered["tts/templates/replicas.yaml"].strip() == f"replicas: {expected}"


# That an upgrade renders the live count read through `lookup` is rendered against a stand-in
# cluster in test_chart_cluster.py (test_an_upgrade_keeps_the_replicas_the_gate_set).


def test_config_checksum_follows_the_config():
    def checksum(values):
        deployment = one(documents(render(values)), "Deployment", "chatterbox-tts")
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum({}) == checksum({})
    assert checksum({}) != checksum({"server": {"config": {"model": {"repo_id": "chatterbox-turbo"}}}})


# -- security ------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.name != "nfs-values.yaml"], ids=lambda p: p.name)
def test_every_pod_is_restricted(scenario):
    for obj in documents(render(scenario_values(scenario))):
        spec = pod_spec(obj)
        if spec is not None:
            assert violations(spec) == [], f"{obj['kind']} {obj['metadata']['name']}"


def test_an_inline_nfs_volume_is_the_one_restricted_exception():
    """PSS restricted allows no inline nfs volume; the README says to use a PV and a claim there."""
    deployment = one(documents(render(scenario_values(CHART / "ci" / "nfs-values.yaml"))), "Deployment", "chatterbox-tts")
    assert violations(pod_spec(deployment)) == ["volume data is of a restricted type ['nfs']"]


@pytest.mark.parametrize("scenario", ["everything-values.yaml", "two-cards-values.yaml"])
def test_rbac_has_no_wildcards_no_secrets_and_no_cluster_scope(scenario):
    objects = documents(render(scenario_values(CHART / "ci" / scenario)))
    assert not by_kind(objects, "ClusterRole") and not by_kind(objects, "ClusterRoleBinding")
    for rule in [rule for role in by_kind(objects, "Role") for rule in role["rules"]]:
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert "*" not in rule.get(field, [])
        assert "secrets" not in rule["resources"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_no_gate_credential_can_change_the_server_pod_template(scenario):
    """Only the scale subresource is writable: patch or update on `deployments` itself could
    rewrite the GPU workload's image, command or volumes."""
    roles = by_kind(documents(render(scenario_values(scenario))), "Role")
    writes = {"create", "update", "patch", "delete", "deletecollection", "*"}
    for rule in [rule for role in roles for rule in role["rules"]]:
        if "apps" in rule["apiGroups"] and "deployments" in rule["resources"]:
            assert not writes & set(rule["verbs"]), rule
        if set(rule["verbs"]) & writes:
            assert set(rule["resources"]) <= {"deployments/scale", "leases", "events"}, rule


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_only_the_server_pod_joins_the_server_service(scenario):
    """The gate's pods (controller, CronJobs, test) never carry the Service's selector: the seed's
    Job pods that did lingered as NotReady endpoints. With cards, every card's server does, and
    only they: one Service for the clients (each card's control Service, component
    server-control, selects its own server alone: tests/test_chart_cards.py)."""
    objects = documents(render(scenario_values(scenario)))
    [service] = [s for s in by_kind(objects, "Service") if s["metadata"]["labels"]["app.kubernetes.io/component"] == "server"]
    selector = service["spec"]["selector"]
    joined = []
    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        template = obj if obj["kind"] == "Pod" else (obj["spec"].get("jobTemplate") or obj)["spec"]["template"]
        labels = template["metadata"]["labels"]
        if all(labels.get(k) == v for k, v in selector.items()):
            joined.append(obj["metadata"]["name"])
    servers = [
        d["metadata"]["name"] for d in by_kind(objects, "Deployment") if d["metadata"]["labels"]["app.kubernetes.io/component"] == "server"
    ]
    cards = scenario_values(scenario).get("cards") or {}
    assert joined == servers == ([f"tts-{name}" for name in sorted(cards)] if cards else ["chatterbox-tts"])


# -- the schema refuses bad values, naming the key -------------------------------------------------


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"gate": {"cronJobs": {"guard": {"enabled": True, "schedule": "TZ=UTC */5 * * * *"}}}}, "/gate/cronJobs/guard/schedule"),
        ({"gate": {"cronJobs": {"windowUp": {"enabled": True, "schedule": "every night"}}}}, "/gate/cronJobs/windowUp/schedule"),
        (
            {"gate": {"cronJobs": {"reentry": {"enabled": True, "schedule": "1-59 2-5 * * *"}}}},
            "additional properties 'reentry' not allowed",
        ),
        ({"gate": {"controller": {"metricsPort": 0}}}, "/gate/controller/metricsPort"),
        ({"gate": {"imagePullSecrets": ["forgejo"]}}, "/gate/imagePullSecrets/0"),
        ({"gate": {"nodeSelector": {"gpu": True}}}, "/gate/nodeSelector/gpu"),
        ({"global": {"imagePullSecrets": [{"secret": "x"}]}}, "/global/imagePullSecrets/0"),
        ({"gate": {"sidecar": {"enabled": True, "interval": "10s", "metricsPort": 70000}}}, "/gate/sidecar/metricsPort"),
        ({"service": {"port": "8000"}}, "/service/port"),
        ({"service": {"port": 0}}, "/service/port"),
        ({"server": {"config": {"server": {"port": 99999}}}}, "/server/config/server/port"),
        ({"server": {"config": {"model": {"repo_id": "chatterbox-large"}}}}, "/server/config/model/repo_id"),
        ({"server": {"image": {"pullPolicy": "Sometimes"}}}, "/server/image/pullPolicy"),
        ({"server": {"image": {"tag": "x", "extra": 1}}}, "/server/image"),
        ({"server": {"resources": {"limits": {"nvidia.com/gpu": None}}}}, "/server/resources/limits"),
        ({"server": {"bf16": True}}, "/server/bf16"),
        ({"persistence": {"type": "hostPath"}}, "/persistence/type"),
        ({"persistence": {"size": "lots"}}, "/persistence/size"),
        ({"rbac": {"create": "yes"}}, "/rbac/create"),
        ({"networkPolicy": {"clientNamespaces": ["Tripit_App"]}}, "/networkPolicy/clientNamespaces/0"),
        ({"networkPolicy": {"clientNamespaces": "tripit"}}, "/networkPolicy/clientNamespaces"),
        ({"networkPolicy": {"allowedNamespaceLabels": {}}}, "additional properties 'allowedNamespaceLabels' not allowed"),
        (
            {"server": {"config": {"tts_engine": {"reference_audio_path": "reference_audio"}}}},
            "/server/config/tts_engine/reference_audio_path",
        ),
        ({"server": {"config": {"generation_defaults": {"language": "German"}}}}, "/server/config/generation_defaults/language"),
        ({"server": {"dataInit": {"enabled": "yes"}}}, "/server/dataInit/enabled"),
        ({"gtae": {}}, "additional properties 'gtae' not allowed"),
    ],
)
def test_schema_refuses_bad_values_naming_the_key(values, key):
    with pytest.raises(HelmValuesError) as error:
        render(values)
    assert key in str(error.value)


# The gate's settings: refused by a template (templates/_settings.tpl), in one line that starts
# with the value's path, as gate/settings.py refuses them (Helm's schema output is many lines).
@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"gate": {"floor": "six"}}, "gate.floor"),
        ({"gate": {"floor": 6}}, "gate.floor"),
        ({"gate": {"total": "15 tera"}}, "gate.total"),
        ({"gate": {"window": "2-6"}}, "gate.window"),
        ({"gate": {"timeZone": "London"}}, "gate.timeZone"),
        ({"gate": {"cooldown": "soon"}}, "gate.cooldown"),
        ({"gate": {"source": "nvml"}}, "gate.source"),
        ({"gate": {"metricsUrl": "gpu-pod-exporter:80"}}, "gate.metricsUrl"),
        ({"gate": {"enabled": "no"}}, "gate.enabled"),
        ({"gate": {"entryMargin": "soon"}}, "gate.entryMargin"),
        ({"gate": {"demand": {"url": "tripit:8080/api/tour/tts-queue"}}}, "gate.demand.url"),
        ({"gate": {"demand": {"url": "ftp://tripit/q"}}}, "gate.demand.url"),
        ({"gate": {"demand": {"field": ""}}}, "gate.demand.field"),
        ({"gate": {"demand": {"idleAfter": "a while"}}}, "gate.demand.idleAfter"),
        ({"gate": {"demand": {"window": "night"}}}, "gate.demand.window"),
        ({"gate": {"demand": {"token": "x"}}}, "gate.demand.token"),
        ({"gate": {"controller": {"interval": "often"}}}, "gate.controller.interval"),
        ({"gate": {"controller": {"replicas": 2}}}, "gate.controller.replicas"),
    ],
)
def test_the_chart_refuses_a_bad_setting_naming_the_key(values, key):
    with pytest.raises(HelmError) as error:
        render(values)
    assert_refused_at_render(str(error.value), key.removeprefix("gate."))


def test_values_yaml_starts_with_the_schema_modeline():
    assert (CHART / "values.yaml").read_text().startswith("# yaml-language-server: $schema=./values.schema.json")
    assert json.loads((CHART / "values.schema.json").read_text())["$schema"] == "http://json-schema.org/draft-07/schema#"
