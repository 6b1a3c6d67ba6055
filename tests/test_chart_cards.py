"""Several cards from one install (chart/templates/_cards.tpl), through the real Helm engine: a
pinned server and a gate per card behind one client Service; a single-card install renders the
objects of the chart before cards, under the same names; two releases share a namespace; what
cannot be pinned is refused in one line; DRA pins a GPU by its UUID."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm import CHART, NEWEST_KUBE, by_kind, documents, earlier_chart, gate_settings, one, render
from helm_python.errors import HelmError, HelmValuesError
from pss import pod_spec, violations
from typer.testing import CliRunner

from gate.cli import app

ROOT = CHART.parent
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
# The chart before several cards: main's chart at 7e7917f (chart 0.5.0 with parking and gate
# try), the chart a single-card install upgrades from; it must find every object under its name,
# unchanged. Not the first base of the cards' work (cc1a5ad): main moved on after it, and comparing
# against it would count main's own changes (the control token's volume, TTSGateParksFailing) as
# the cards'. Kept as tests/fixtures/charts/chart-at-7e7917f.tar.gz (helm.earlier_chart).
BEFORE_CARDS = "7e7917f"
DCGM = {"source": "dcgm", "metricsUrl": "http://nvidia-dcgm-exporter.gpu-operator.svc:9400/metrics", "total": ""}
UUID_A, UUID_B = "GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a", "GPU-7e6d1bd6-85e8-4241-57a2-fa4fe68a570b"
PLACE = "execution error at (tts/templates/validation/checks.yaml:"


def values_of(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def keyed(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects}


@pytest.fixture(scope="session")
def chart_before_cards(tmp_path_factory) -> Path:
    """The chart at BEFORE_CARDS."""
    return earlier_chart(BEFORE_CARDS, tmp_path_factory.mktemp("before-cards"))


@pytest.fixture(scope="session")
def two_cards() -> list[dict[str, Any]]:
    return documents(render(values_of(CHART / "ci" / "two-cards-values.yaml")))


# -- a single card: the objects of the chart before cards ------------------------------------------


def without_chart_label(node: Any) -> Any:
    """The object without helm.sh/chart (it carries the chart's version, which every change bumps)."""
    if isinstance(node, dict):
        return {k: without_chart_label(v) for k, v in node.items() if k != "helm.sh/chart"}
    if isinstance(node, list):
        return [without_chart_label(v) for v in node]
    return node


def rules_without_the_gate_label(groups_text: str, server: str, namespace: str) -> Any:
    """A rule file as it was before each gate's alerts named the gate: the `deployment` matcher on
    the gate's series and the labels every alert now carries (namespace, deployment) taken out."""
    groups = yaml.safe_load(groups_text)
    for group in groups["groups"]:
        for rule in group["rules"]:
            rule["expr"] = rule["expr"].replace(f',deployment="{server}"', "")
            assert rule["labels"].pop("namespace", namespace) == namespace and rule["labels"].pop("deployment", server) == server
    return groups


def declared_change(obj: dict[str, Any]) -> dict[str, Any]:
    """The declared differences of a single-card install, undone: the control token is random at
    every offline render; the alert rules name their gate; the dashboard shows one gate at a time
    (its own tests read every panel through a real Prometheus), so only its metadata is compared."""
    obj = copy.deepcopy(obj)
    kind, name, namespace = obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace", "")
    if kind == "Secret" and name.endswith("-control"):
        obj["data"]["token"] = "<random>"
    annotations = obj.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
    if "checksum/config" in annotations:
        # The hash of the rendered server ConfigMap, its helm.sh/chart label included: every chart
        # version moves it. The ConfigMap itself is compared, label aside.
        annotations["checksum/config"] = "<the server ConfigMap's hash>"
    if kind == "PrometheusRule":
        obj["spec"] = rules_without_the_gate_label(yaml.safe_dump(obj["spec"]), "chatterbox-tts", "tts")
    if kind == "ConfigMap" and name.endswith("-alert-rules"):
        obj["data"] = {k: rules_without_the_gate_label(v, "chatterbox-tts", "tts") for k, v in obj["data"].items()}
    if kind == "ConfigMap" and name.endswith("-dashboard"):
        obj["data"] = {k: "<the dashboard>" for k in obj["data"]}
    assert namespace or kind in ("Namespace", "PriorityClass")
    return obj


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if not values_of(s).get("cards")], ids=lambda p: p.name)
def test_a_single_card_install_renders_the_objects_of_the_chart_before_cards(scenario, chart_before_cards):
    """Every object under the same kind, namespace and name, and the same object (the chart's
    version label aside, and the declared changes): the Service chatterbox-tts on port 8000, the
    Deployment and its Lease, the gate's ConfigMap (the same sealed gate.yaml), the Roles."""
    values = values_of(scenario)
    before = keyed(documents(render(values, chart_dir=chart_before_cards)))
    now = keyed(documents(render(values)))
    assert sorted(now) == sorted(before)
    changed = [key for key in before if declared_change(without_chart_label(now[key])) != declared_change(without_chart_label(before[key]))]
    assert changed == []
    assert one(list(now.values()), "Service", "chatterbox-tts")["spec"]["ports"][0]["port"] == 8000


def test_the_comparison_sees_a_change():
    """The normalisation leaves a real change visible: a renamed Lease, another port, a gate
    setting in gate.yaml."""
    base = keyed(documents(render({})))
    for values, key in (
        ({"service": {"port": 8001}}, ("Service", "tts", "chatterbox-tts")),
        ({"gate": {"floor": "7GiB"}}, ("ConfigMap", "tts", "tts-gate-config")),
    ):
        other = keyed(documents(render(values)))
        assert declared_change(without_chart_label(other[key])) != declared_change(without_chart_label(base[key]))
    renamed = keyed(documents(render({"server": {"name": "narrator"}})))
    assert ("Lease", "tts", "chatterbox-tts-gate") in base and ("Lease", "tts", "chatterbox-tts-gate") not in renamed


# -- two cards: two pinned servers, two gates, one Service ------------------------------------------


def test_two_cards_render_two_pinned_servers_two_gates_and_one_service(two_cards):
    servers = [d for d in by_kind(two_cards, "Deployment") if d["metadata"]["labels"]["app.kubernetes.io/component"] == "server"]
    gates = [d for d in by_kind(two_cards, "Deployment") if d["metadata"]["labels"]["app.kubernetes.io/component"] == "gate-controller"]
    assert [s["metadata"]["name"] for s in servers] == ["tts-node-a", "tts-node-b"]
    assert [g["metadata"]["name"] for g in gates] == ["tts-node-a-gate", "tts-node-b-gate"]
    assert [s["spec"]["template"]["spec"]["nodeSelector"] for s in servers] == [
        {"kubernetes.io/hostname": "gpu-node-a"},
        {"kubernetes.io/hostname": "gpu-node-b"},
    ]
    [service] = [s for s in by_kind(two_cards, "Service") if s["metadata"]["labels"]["app.kubernetes.io/component"] == "server"]
    assert (service["metadata"]["name"], service["spec"]["ports"][0]["port"]) == ("chatterbox-tts", 8000)
    assert "publishNotReadyAddresses" not in service["spec"]  # only ready servers are endpoints
    for server in servers:
        labels = server["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items())
        assert server["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert sorted(lease["metadata"]["name"] for lease in by_kind(two_cards, "Lease")) == ["tts-node-a-gate", "tts-node-b-gate"]


def test_each_cards_controller_parks_its_own_server_with_its_own_token(two_cards):
    """gate.park through the control port: a card's controller calls its own control Service,
    which selects its own server's pods alone, with its card's token (the Secret its server
    reads); its server's NetworkPolicy admits that controller to the port, and not the other
    card's. The sidecar calls its own server over loopback with the same token."""
    from test_server_pod import admitted, selects

    controllers = {}
    for card in ("node-a", "node-b"):
        controller = one(two_cards, "Deployment", f"tts-{card}-gate")["spec"]["template"]
        env = {e["name"]: e.get("value") for e in controller["spec"]["containers"][0]["env"]}
        assert env["GATE_CONTROL_URL"] == f"http://tts-{card}.tts.svc:8005"
        control = one(two_cards, "Service", f"tts-{card}")
        assert [(p["name"], p["port"]) for p in control["spec"]["ports"]] == [("control", 8005)]
        pods = [
            o for o in two_cards if pod_spec(o) is not None and selects({"matchLabels": control["spec"]["selector"]}, template_labels(o))
        ]
        assert [o["metadata"]["name"] for o in pods] == [f"tts-{card}"]
        server = one(two_cards, "Deployment", f"tts-{card}")["spec"]["template"]
        secrets = {
            v["secret"]["secretName"]
            for spec in (controller["spec"], server["spec"])
            for v in spec["volumes"]
            if v["name"] == "control-token"
        }
        assert secrets == {f"tts-{card}-control"}
        sidecar = {c["name"]: c for c in server["spec"]["containers"]}["gate"]
        assert {e["name"]: e.get("value") for e in sidecar["env"]}["GATE_CONTROL_URL"] == "http://127.0.0.1:8005"
        controllers[card] = controller["metadata"]["labels"]
    servers = {card: one(two_cards, "Deployment", f"tts-{card}")["spec"]["template"]["metadata"]["labels"] for card in controllers}
    for card, other in (("node-a", "node-b"), ("node-b", "node-a")):
        policy = one(two_cards, "NetworkPolicy", f"tts-{card}")
        assert selects(policy["spec"]["podSelector"], servers[card]) and not selects(policy["spec"]["podSelector"], servers[other])
        assert admitted(policy, "control", "tts", controllers[card]) and not admitted(policy, "control", "tts", controllers[other])
    # Each control Service is the card's alone: the ServiceMonitor's scrapes keep to the client Service.
    for monitor in by_kind(two_cards, "ServiceMonitor"):
        assert [
            s["metadata"]["name"] for s in by_kind(two_cards, "Service") if selects(monitor["spec"]["selector"], s["metadata"]["labels"])
        ] == ["chatterbox-tts"]


def template_labels(obj: dict[str, Any]) -> dict[str, str]:
    """The labels of the pods `obj` makes (a Pod's own)."""
    if obj["kind"] == "Pod":
        return obj["metadata"]["labels"]
    return (obj["spec"].get("jobTemplate") or obj)["spec"]["template"]["metadata"]["labels"]


def test_no_cards_deployment_selects_another_cards_pods(two_cards):
    """Each Deployment's selector matches its own pod template and no other pod the chart makes:
    two controllers of one component would otherwise adopt each other's pods."""
    templates = []
    for obj in two_cards:
        if pod_spec(obj) is not None:
            template = obj if obj["kind"] == "Pod" else (obj["spec"].get("jobTemplate") or obj)["spec"]["template"]
            templates.append((obj["metadata"]["name"], template["metadata"]["labels"]))
    for deployment in by_kind(two_cards, "Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        matched = [name for name, labels in templates if all(labels.get(k) == v for k, v in selector.items())]
        assert matched == [deployment["metadata"]["name"]]


def test_each_cards_gate_reads_its_own_sealed_settings_for_its_own_card(two_cards):
    for card, node, floor in (("node-a", "gpu-node-a", "6GiB"), ("node-b", "gpu-node-b", "7GiB")):
        name = f"tts-{card}-gate-config"
        document = one(two_cards, "ConfigMap", name)["data"]["gate.yaml"]
        result = CliRunner().invoke(app, ["check-config", "-", "--output", "json"], input=document)
        assert result.exit_code == 0, result.output  # the seal holds and every value passes the gate
        rows = {row["key"]: row["value"] for row in json.loads(result.stdout)["settings"]}
        assert (rows["card.node"], rows["floor"]) == (node, floor)
        settings = gate_settings(two_cards, name)
        assert settings["total"] == ("24564MiB" if card == "node-b" else "15360MiB")
        for obj in [o for o in two_cards if o["metadata"]["labels"].get("tts.gate/card") == card and pod_spec(o) is not None]:
            spec = pod_spec(obj)
            configs = [v["configMap"]["name"] for v in spec.get("volumes", []) if v["name"] == "gate-config"]
            env = {e["name"]: e.get("value") for c in spec["containers"] for e in c.get("env", [])}
            if configs:
                assert configs == [name], obj["metadata"]["name"]
                assert env["GATE_DEPLOYMENT"] == f"tts-{card}", obj["metadata"]["name"]


def test_each_gates_role_is_its_own_cards_and_reads_the_exporter_on_its_node(two_cards):
    for card in ("node-a", "node-b"):
        role = one(two_cards, "Role", f"tts-{card}-gate")
        named = {(r["resources"][0], n) for r in role["rules"] for n in r.get("resourceNames", [])}
        assert named == {("deployments", f"tts-{card}"), ("deployments/scale", f"tts-{card}"), ("leases", f"tts-{card}-gate")}
        exporter = one(two_cards, "Role", f"tts-{card}-gate-exporter")
        assert exporter["metadata"]["namespace"] == "nvidia"  # gpu-pod-exporter.nvidia.svc, the default URL
        assert [(r["resources"], r["verbs"], r.get("resourceNames")) for r in exporter["rules"]] == [
            (["endpointslices"], ["list"], None),
            (["services"], ["get"], ["gpu-pod-exporter"]),
        ]
        binding = one(two_cards, "RoleBinding", f"tts-{card}-gate-exporter")
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"tts-{card}-gate", "namespace": "tts"}]


def test_one_card_without_a_node_needs_no_exporter_role():
    assert not [r for r in by_kind(documents(render({})), "Role") if r["metadata"]["name"].endswith("-exporter")]
    # A Prometheus source labels the node itself: no exporter to find.
    values = {"gate": {"source": "prometheus", "metricsUrl": "http://prometheus-server.monitoring.svc:80", "card": {"node": "gpu-a"}}}
    assert not [r for r in by_kind(documents(render(values)), "Role") if r["metadata"]["name"].endswith("-exporter")]


@pytest.mark.parametrize(
    ("server", "node"),
    [
        ({"nodeSelector": {"kubernetes.io/hostname": "gpu-a", "nvidia.com/gpu.present": "true"}}, "gpu-a"),
        (
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["gpu-b"]}]}
                            ]
                        }
                    }
                }
            },
            "gpu-b",
        ),
        ({"nodeSelector": {"nvidia.com/gpu.present": "true"}}, ""),  # several nodes: no card
    ],
)
def test_the_one_cards_node_is_the_one_its_server_is_pinned_to(server, node):
    objects = documents(render({"server": server}))
    assert gate_settings(objects)["card"]["node"] == node
    assert bool(node) == bool([r for r in by_kind(objects, "Role") if r["metadata"]["name"] == "tts-gate-exporter"])


def test_a_written_card_node_pins_the_one_server_and_its_warm_up():
    values = {"gate": {"card": {"node": "gpu-a"}}, "persistence": {"accessModes": ["ReadWriteOnce"]}}
    objects = documents(render(values))
    assert one(objects, "Deployment", "chatterbox-tts")["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "gpu-a"}
    [warmup] = by_kind(objects, "Job")
    assert warmup["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "gpu-a"}


def test_cards_on_a_read_write_once_claim_get_one_claim_and_warm_up_each():
    values = {**values_of(CHART / "ci" / "two-cards-values.yaml"), "persistence": {"accessModes": ["ReadWriteOnce"]}}
    objects = documents(render(values))
    assert sorted(c["metadata"]["name"] for c in by_kind(objects, "PersistentVolumeClaim")) == ["tts-node-a-data", "tts-node-b-data"]
    jobs = {j["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"] for j in by_kind(objects, "Job")}
    assert jobs == {"gpu-node-a", "gpu-node-b"}
    for server in [d for d in by_kind(objects, "Deployment") if d["metadata"]["labels"]["app.kubernetes.io/component"] == "server"]:
        [data] = [v for v in server["spec"]["template"]["spec"]["volumes"] if v["name"] == "data"]
        assert data["persistentVolumeClaim"]["claimName"] == f"{server['metadata']['name']}-data"


def test_a_cards_gate_overrides_apply_even_when_false_or_empty():
    """A card's `gate` replaces each value it writes: a paused card (enabled: false) and no window
    ("") included, which a merge that skips empty values would drop."""
    values = {"cards": {"a": {"node": "n1"}, "b": {"node": "n2", "gate": {"enabled": False, "window": "", "demand": {"idleAfter": "9m"}}}}}
    objects = documents(render(values))
    a, b = gate_settings(objects, "tts-a-gate-config"), gate_settings(objects, "tts-b-gate-config")
    assert (a["enabled"], a["window"], a["demand"]["idleAfter"]) == (True, "02:00-06:00", "5m")
    assert (b["enabled"], b["window"], b["demand"]["idleAfter"]) == (False, "", "9m")
    cronjobs = {c["metadata"]["name"]: c["spec"] for c in by_kind(objects, "CronJob")}
    assert "tts-b-window-up" not in cronjobs and "suspend" not in cronjobs["tts-a-window-up"]  # b: any time


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"cards": {"Node_A": {"node": "n1"}}}, "invalid propertyName 'Node_A'"),
        ({"cards": {"a": {}}}, "missing property 'node'"),
        ({"cards": {"a": {"node": "n1", "gate": {"floor": "six"}}}}, "/cards/a/gate/floor"),
        ({"cards": {"a": {"node": "n1", "gate": {"card": {"node": "n2"}}}}}, "additional properties 'card' not allowed"),
        ({"cards": {"a": {"node": "n1", "device": "the big one"}}}, "/cards/a/device"),
        ({"dra": {"enabled": "yes"}}, "/dra/enabled"),
    ],
)
def test_the_schema_refuses_a_bad_card_naming_its_path(values, says):
    with pytest.raises(HelmValuesError) as error:
        render(values)
    assert says in str(error.value)


# -- what cannot be a card: one line each, from the validation template -----------------------------

REFUSED = {
    "two cards on one node without DRA": (
        {"gate": DCGM, "cards": {"a": {"node": "n1", "device": UUID_A}, "b": {"node": "n1", "device": UUID_B}}},
        "cards.b: node n1 has card a too, and without dra.enabled",
    ),
    "a device without DRA": ({"gate": DCGM, "cards": {"a": {"node": "n1", "device": UUID_A}}}, "cards.a.device: "),
    "the one card's device without DRA": ({"gate": {**DCGM, "card": {"device": UUID_A}}}, "gate.card.device: "),
    "an index with DRA": ({"gate": DCGM, "dra": {"enabled": True}, "cards": {"a": {"node": "n1", "device": "0"}}}, "is an index"),
    "two cards on one node, one without a device": (
        {"gate": DCGM, "dra": {"enabled": True}, "cards": {"a": {"node": "n1"}, "b": {"node": "n1", "device": UUID_B}}},
        'cards.a.device: "" on node n1',
    ),
    "one GPU twice": (
        {
            "gate": DCGM,
            "dra": {"enabled": True},
            "cards": {"a": {"node": "n1", "device": UUID_A}, "b": {"node": "n1", "device": UUID_A.lower()}},
        },
        "is card a's already",
    ),
    "a card with the one card's node set": ({"gate": {"card": {"node": "n1"}}, "cards": {"a": {"node": "n1"}}}, "gate.card: node"),
    "cards with the server pinned to one node": (
        {"server": {"nodeSelector": {"kubernetes.io/hostname": "n1"}}, "cards": {"a": {"node": "n1"}}},
        "server.nodeSelector / server.affinity: they pin every card's server to node n1",
    ),
    "a name that is another card's gate": (
        {"cards": {"a": {"node": "n1"}, "a-gate": {"node": "n2"}}},
        "cards.a-gate: a card's name cannot end in -gate",
    ),
    "a card whose control Service is the client Service": (
        {"server": {"name": "tts-a"}, "cards": {"a": {"node": "n1"}}},
        "cards.a: its server's control Service would be tts-a, the client Service (server.name)",
    ),
    "a name too long for its CronJobs": (
        {"fullnameOverride": "narration-for-the-old-town", "cards": {"gpu-node-one-x": {"node": "n1"}}},
        "at most 40",
    ),
    "the one card's node not its server's": (
        {"gate": {"card": {"node": "n2"}}, "server": {"nodeSelector": {"kubernetes.io/hostname": "n1"}}},
        'gate.card.node: "n2" is not the node',
    ),
    "a device with a source that names no GPU": ({"gate": {"card": {"device": UUID_A}}}, 'gate.card.device: "GPU-'),
    "a node with an exporter by address": (
        {"gate": {"metricsUrl": "http://10.0.0.5:9100/metrics"}, "cards": {"a": {"node": "n1"}}},
        'cards.a: gate.metricsUrl: "http://10.0.0.5:9100/metrics" names no Service',
    ),
    "DRA on a Kubernetes without resource.k8s.io/v1": (
        {"dra": {"enabled": True}},
        "dra.enabled: Kubernetes v1.27.0 has no resource.k8s.io/v1",
    ),
}


@pytest.mark.parametrize(("values", "says"), REFUSED.values(), ids=REFUSED.keys())
def test_what_cannot_be_a_card_is_refused_in_one_line_naming_the_value(values, says):
    """On the first Kubernetes with DRA's API, unless the refusal is of an older one."""
    with pytest.raises(HelmError) as error:
        render(values, kube_version="1.27" if says.startswith("dra.enabled") else "1.34")
    message = str(error.value).strip()
    assert message.startswith(PLACE), message
    assert len(message.splitlines()) == 1, message
    assert says in message, message


# -- DRA: a GPU pinned by its UUID ------------------------------------------------------------------


@pytest.fixture(scope="session")
def dra_cards() -> list[dict[str, Any]]:
    values = {
        "gate": DCGM,
        "dra": {"enabled": True},
        "cards": {
            "a": {"node": "gpu-node-a", "device": UUID_A.upper().replace("GPU-", "gpu-")},
            "b": {"node": "gpu-node-a", "device": UUID_B},
        },
    }
    return documents(render(values, kube_version="1.34"))


def test_dra_pins_each_server_to_its_gpu_by_uuid(dra_cards):
    templates = {t["metadata"]["name"]: t for t in by_kind(dra_cards, "ResourceClaimTemplate")}
    assert sorted(templates) == ["tts-a-gpu", "tts-b-gpu"]
    for card, uuid in (("a", UUID_A), ("b", UUID_B)):
        [request] = templates[f"tts-{card}-gpu"]["spec"]["spec"]["devices"]["requests"]
        assert request["exactly"]["deviceClassName"] == "gpu.nvidia.com"
        # As the driver's `uuid` attribute is written: NVML's "GPU-" and lower-case hex.
        assert request["exactly"]["selectors"] == [{"cel": {"expression": f'device.attributes["gpu.nvidia.com"].uuid == "{uuid}"'}}]
        pod = one(dra_cards, "Deployment", f"tts-{card}")["spec"]["template"]["spec"]
        assert pod["resourceClaims"] == [{"name": "gpu", "resourceClaimTemplateName": f"tts-{card}-gpu"}]
        resources = pod["containers"][0]["resources"]
        assert resources["claims"] == [{"name": "gpu"}]
        assert "nvidia.com/gpu" not in {**resources.get("limits", {}), **resources.get("requests", {})}
        assert pod["nodeSelector"] == {"kubernetes.io/hostname": "gpu-node-a"}


@pytest.mark.parametrize("kube", ["1.34", NEWEST_KUBE])
def test_dra_objects_validate_and_pods_stay_restricted(dra_cards, kube):
    objects = (
        dra_cards
        if kube == "1.34"
        else documents(
            render({"gate": DCGM, "dra": {"enabled": True}, "cards": {"a": {"node": "n1", "device": UUID_A}}}, kube_version=kube)
        )
    )
    for obj in objects:
        kubernetes_validate.validate(obj, kube, strict=True)
        spec = pod_spec(obj)
        if spec is not None:
            assert violations(spec) == [], obj["metadata"]["name"]


# -- two releases in one namespace --------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["default-values.yaml", "two-cards-values.yaml"])
def test_two_releases_share_a_namespace_when_the_second_names_its_server(scenario):
    """Release-derived names for the gates and the cards' servers; server.name (the client
    Service, the single card's Deployment) is the value that tells two releases apart. Nothing
    else is in common: no object is meant to be shared."""
    values = values_of(CHART / "ci" / scenario)
    first = keyed(documents(render(values, name="tts")))
    second = keyed(documents(render({**values, "server": {**values.get("server", {}), "name": "voices"}}, name="voices")))
    assert set(first) & set(second) == set()
    # Without it, exactly the objects named from server.name collide (Helm refuses the second).
    same = keyed(documents(render(values, name="voices")))
    assert {(k, n) for k, _, n in set(first) & set(same)} <= {
        ("Service", "chatterbox-tts"),
        ("NetworkPolicy", "chatterbox-tts"),
        ("PersistentVolumeClaim", "chatterbox-tts-data"),
        ("Deployment", "chatterbox-tts"),
        ("ConfigMap", "chatterbox-tts-config"),
        ("Secret", "chatterbox-tts-control"),
        ("Lease", "chatterbox-tts-gate"),
    }


def test_the_names_a_card_makes_fit_kubernetes(two_cards):
    for obj in two_cards:
        name = obj["metadata"]["name"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= (52 if obj["kind"] == "CronJob" else 63), name
