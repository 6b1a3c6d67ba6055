"""The API client and kubeconfig loading against the loopback kube-apiserver double."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from kubeapi import Fault

from gate.kube import config as kube_config
from gate.kube.client import KubeClient
from gate.kube.errors import (
    KubeConfigError,
    KubeConflict,
    KubeForbidden,
    KubeNotFound,
    KubeRejected,
    KubeUnauthorized,
    KubeUnavailable,
)


def client_for(api, tmp_path: Path, **kwargs) -> KubeClient:
    cluster = kube_config.from_kubeconfig(Path(api.kubeconfig(tmp_path / "kubeconfig")))
    return KubeClient(cluster, **kwargs)


def test_scale_goes_through_the_scale_subresource_as_a_merge_patch(kubeapi, tmp_path):
    client = client_for(kubeapi, tmp_path)
    assert client.scale("tts", "chatterbox-tts", 1) == 1
    assert kubeapi.replicas() == 1
    call = kubeapi.calls("PATCH")[-1]
    assert call["path"] == "/apis/apps/v1/namespaces/tts/deployments/chatterbox-tts/scale"
    assert call["content_type"] == "application/merge-patch+json"
    assert json.loads(call["body"]) == {"spec": {"replicas": 1}}


def test_the_lease_is_created_read_and_updated_with_its_resource_version(kubeapi, tmp_path):
    client = client_for(kubeapi, tmp_path)
    with pytest.raises(KubeNotFound, match='leases.coordination.k8s.io "chatterbox-tts-gate" not found'):
        client.get_lease("tts", "chatterbox-tts-gate")
    created = client.create_lease("tts", "chatterbox-tts-gate", {"app.kubernetes.io/component": "gate"})
    assert kubeapi.calls("POST")[-1]["path"] == "/apis/coordination.k8s.io/v1/namespaces/tts/leases"
    created["metadata"]["annotations"] = {"tts.gate/yielded-at": "2026-11-12T02:30:00Z"}
    client.update_lease(created)
    assert kubeapi.state() == {"tts.gate/yielded-at": "2026-11-12T02:30:00Z"}
    assert kubeapi.calls("PUT")[-1]["path"] == "/apis/coordination.k8s.io/v1/namespaces/tts/leases/chatterbox-tts-gate"


def test_a_lease_updated_from_a_stale_read_is_a_conflict(kubeapi, tmp_path):
    client = client_for(kubeapi, tmp_path)
    kubeapi.set_state({"tts.gate/room-since": "2026-11-12T02:30:00Z"})
    first, second = client.get_lease("tts", "chatterbox-tts-gate"), client.get_lease("tts", "chatterbox-tts-gate")
    first["metadata"]["annotations"] = {}
    client.update_lease(first)
    second["metadata"]["annotations"]["tts.gate/yielded-at"] = "2026-11-12T02:31:00Z"
    with pytest.raises(KubeConflict, match="HTTP 409"):
        client.update_lease(second)
    with pytest.raises(KubeConflict, match="already exists"):
        client.create_lease("tts", "chatterbox-tts-gate")


def test_events_name_the_deployment(kubeapi, tmp_path):
    client = client_for(kubeapi, tmp_path)
    deployment = client.get_deployment("tts", "chatterbox-tts")
    client.record_event(deployment, "PreflightNoRoom", "no room: free 4.00 GiB vs floor 6.00 GiB")
    [event] = kubeapi.events
    assert event["involvedObject"]["kind"] == "Deployment"
    assert event["involvedObject"]["name"] == "chatterbox-tts"
    assert event["involvedObject"]["uid"] == "uid-tts-chatterbox-tts"
    assert event["reason"] == "PreflightNoRoom"
    assert event["type"] == "Normal"


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        (lambda api: api.tokens.clear(), KubeUnauthorized, "HTTP 401: Unauthorized"),
        (
            lambda api: api.denied.add(("patch", "deployments/scale")),
            KubeForbidden,
            'cannot patch resource "deployments/scale" in API group "apps"',
        ),
        (lambda api: api.deployments.clear(), KubeNotFound, 'deployments.apps "chatterbox-tts" not found'),
        (lambda api: api.faults.append(Fault("PATCH", "/scale$", status=409)), KubeConflict, "HTTP 409"),
        (lambda api: api.faults.append(Fault("PATCH", "/scale$", status=422)), KubeRejected, "HTTP 422"),
        (lambda api: api.faults.append(Fault("PATCH", "/scale$", status=500, times=2)), KubeUnavailable, "etcdserver"),
        (lambda api: api.faults.append(Fault("PATCH", "/scale$", status=503, times=2)), KubeUnavailable, "HTTP 503"),
        (
            lambda api: api.faults.append(Fault("PATCH", "/scale$", status=429, times=2, headers={"Retry-After": "30"})),
            KubeUnavailable,
            "HTTP 429",
        ),
    ],
)
def test_errors_map_to_the_error_tree_with_the_apis_message(kubeapi, tmp_path, setup, error, message):
    client = client_for(kubeapi, tmp_path)
    setup(kubeapi)
    with pytest.raises(error) as raised:
        client.scale("tts", "chatterbox-tts", 1)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert kubeapi.token not in str(raised.value)


def test_forbidden_carries_the_rbac_hint(kubeapi, tmp_path):
    kubeapi.denied.add(("get", "deployments"))
    with pytest.raises(KubeForbidden, match="RBAC: the gate's Role needs get on the Deployment"):
        client_for(kubeapi, tmp_path).get_deployment("tts", "chatterbox-tts")


def test_a_short_retry_after_is_honoured_once(kubeapi, tmp_path):
    kubeapi.faults.append(Fault("PATCH", "/scale$", status=429, headers={"Retry-After": "0"}))
    assert client_for(kubeapi, tmp_path).scale("tts", "chatterbox-tts", 1) == 1
    assert len(kubeapi.calls("PATCH")) == 2


def test_a_long_retry_after_is_not_waited_for(kubeapi, tmp_path):
    kubeapi.faults.append(Fault("PATCH", "/scale$", status=429, headers={"Retry-After": "30"}))
    with pytest.raises(KubeUnavailable):
        client_for(kubeapi, tmp_path).scale("tts", "chatterbox-tts", 1)
    assert len(kubeapi.calls("PATCH")) == 1


def test_retries_are_bounded(kubeapi, tmp_path):
    kubeapi.faults.append(Fault("PATCH", "/scale$", status=503, times=100))
    with pytest.raises(KubeUnavailable):
        client_for(kubeapi, tmp_path, attempts=3).scale("tts", "chatterbox-tts", 1)
    assert len(kubeapi.calls("PATCH")) == 3


def test_a_slow_api_times_out(kubeapi, tmp_path):
    kubeapi.faults.append(Fault("GET", "deployments", delay_seconds=1.5, then_serve=True, times=5))
    with pytest.raises(KubeUnavailable, match="no answer .* within 0.3s"):
        client_for(kubeapi, tmp_path, timeout_seconds=0.3, attempts=1).get_deployment("tts", "chatterbox-tts")


def test_the_double_refuses_a_wrong_patch_media_type(kubeapi, tmp_path):
    client = client_for(kubeapi, tmp_path)
    with pytest.raises(KubeRejected, match="HTTP 415: the body of the request was in an unknown format"):
        client._call(
            "PATCH",
            "/apis/apps/v1/namespaces/tts/deployments/chatterbox-tts/scale",
            "scale",
            body={},
            content_type="application/json",
        )


def test_a_rotated_token_file_is_read_again_on_every_call(kubeapi, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("token-1")
    cluster = kube_config.from_kubeconfig(Path(kubeapi.kubeconfig(tmp_path / "kubeconfig", token_file=str(token_file))))
    client = KubeClient(cluster)
    client.get_deployment("tts", "chatterbox-tts")
    kubeapi.tokens = {"token-2"}  # the kubelet rotated the projected token
    token_file.write_text("token-2\n")
    client.scale("tts", "chatterbox-tts", 1)
    assert [c["authorization"] for c in kubeapi.requests] == ["Bearer token-1", "Bearer token-2"]


# -- configuration -------------------------------------------------------------------------------


def write_kubeconfig(path: Path, cluster: dict, user: dict, namespace: str | None = None) -> Path:
    context = {"cluster": "c", "user": "u", **({"namespace": namespace} if namespace else {})}
    path.write_text(
        json.dumps(
            {
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "ctx", "context": context}],
                "current-context": "ctx",
            }
        )
    )
    return path


def test_kubeconfig_with_inline_ca_and_client_certificate(tmp_path):
    data = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()
    path = write_kubeconfig(
        tmp_path / "config",
        {"server": "https://10.0.0.1:6443/", "certificate-authority-data": data},
        {"client-certificate-data": data, "client-key-data": data},
        namespace="tts",
    )
    cluster = kube_config.from_kubeconfig(path)
    assert cluster.server == "https://10.0.0.1:6443"
    assert cluster.namespace == "tts"
    assert Path(cluster.verify).read_bytes() == b"-----BEGIN CERTIFICATE-----\n"
    assert cluster.client_cert is not None and all(Path(p).exists() for p in cluster.client_cert)


def test_kubeconfig_relative_paths_are_relative_to_the_file(tmp_path):
    path = write_kubeconfig(tmp_path / "config", {"server": "https://k:6443", "certificate-authority": "ca.crt"}, {"token": "t"})
    assert kube_config.from_kubeconfig(path).verify == str(tmp_path / "ca.crt")


def test_insecure_skip_tls_verify(tmp_path):
    path = write_kubeconfig(tmp_path / "config", {"server": "https://k:6443", "insecure-skip-tls-verify": True}, {"token": "t"})
    assert kube_config.from_kubeconfig(path).verify is False


@pytest.mark.parametrize(
    ("cluster", "user", "message"),
    [
        ({"server": "https://k"}, {"exec": {"command": "aws"}}, "exec/auth-provider plugin"),
        ({}, {"token": "t"}, "has no server"),
        ({"server": "https://k"}, {"client-certificate": "c.crt"}, "needs both"),
        ({"server": "https://k", "certificate-authority-data": "not base64!"}, {"token": "t"}, "not base64"),
    ],
)
def test_unusable_kubeconfigs_are_config_errors(tmp_path, cluster, user, message):
    path = write_kubeconfig(tmp_path / "config", cluster, user)
    with pytest.raises(KubeConfigError, match=message):
        kube_config.from_kubeconfig(path)


def test_missing_kubeconfig(tmp_path):
    with pytest.raises(KubeConfigError, match="does not exist"):
        kube_config.load(str(tmp_path / "nope"))


def test_in_cluster_configuration(tmp_path, monkeypatch):
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "namespace").write_text("tts")
    (tmp_path / "ca.crt").write_text("ca")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    cluster = kube_config.load(None, service_account_dir=tmp_path)
    assert cluster.server == "https://[fd00::1]:443"
    assert cluster.namespace == "tts"
    assert cluster.bearer_token() == "sa-token"
    assert cluster.verify == str(tmp_path / "ca.crt")
