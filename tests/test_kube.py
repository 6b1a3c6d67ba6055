"""The API client and kubeconfig loading against the loopback kube-apiserver double."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from kubeapi import FakeKubeAPI, Fault

from gate.kube import config as kube_config
from gate.kube.client import DEFAULT_RETRY_SECONDS, MAX_BODY_BYTES, MAX_RETRY_AFTER_SECONDS, KubeClient, retry_after_seconds
from gate.kube.errors import (
    KubeBadAnswer,
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
            "Scale",
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


# -- a misbehaving API server: every failure is "API unavailable", in bounded time ---------------


def one_line_without_token(error: Exception, api) -> str:
    text = str(error)
    assert "\n" not in text
    assert api.token not in text
    return text


LEASE = "chatterbox-tts-gate"

# Every call the gate makes, as (method, path pattern of the double, the call).
CALLS = {
    "GET deployment": ("GET", "/deployments/chatterbox-tts$", lambda c, api: c.get_deployment("tts", "chatterbox-tts")),
    "PATCH scale": ("PATCH", "/scale$", lambda c, api: c.scale("tts", "chatterbox-tts", 1)),
    "GET lease": ("GET", f"/leases/{LEASE}$", lambda c, api: c.get_lease("tts", LEASE)),
    "PUT lease": ("PUT", f"/leases/{LEASE}$", lambda c, api: c.update_lease(api.leases[("tts", LEASE)])),
    "POST lease": ("POST", "/leases$", lambda c, api: c.create_lease("tts", "other-gate")),
    "POST event": (
        "POST",
        "/events$",
        lambda c, api: c.record_event(api.deployments[("tts", "chatterbox-tts")], "Entered", "room: free 10 GiB"),
    ),
}


@pytest.fixture
def api_with_state(kubeapi):
    kubeapi.set_state({"tts.gate/room-since": "2026-11-12T02:30:00Z"})
    return kubeapi


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("mode", ["reset_mid_answer", "short_body", "broken_chunks"])
def test_an_answer_broken_part_way_is_api_unavailable_after_the_bounded_retry(api_with_state, tmp_path, name, mode):
    method, path, call = CALLS[name]
    api_with_state.faults.append(Fault(method, path, then_serve=True, times=2, **{mode: True}))
    with pytest.raises(KubeUnavailable, match="connection to http://127.0.0.1:[0-9]+ broken") as raised:
        call(client_for(api_with_state, tmp_path), api_with_state)
    one_line_without_token(raised.value, api_with_state)
    assert len(api_with_state.calls(method)) == 2  # one retry, then the error


@pytest.mark.parametrize(
    ("mode", "cause"),
    [
        ("reset_mid_answer", "connection reset"),
        ("short_body", "bytes short of its Content-Length"),
        ("broken_chunks", "broken chunked encoding"),
    ],
)
def test_the_reason_names_what_broke(kubeapi, tmp_path, mode, cause):
    kubeapi.faults.append(Fault("GET", "deployments", then_serve=True, **{mode: True}))
    with pytest.raises(KubeUnavailable, match=cause):
        client_for(kubeapi, tmp_path, attempts=1).get_deployment("tts", "chatterbox-tts")


@pytest.mark.parametrize("name", list(CALLS))
def test_one_broken_answer_is_retried_and_the_retry_lands(api_with_state, tmp_path, name):
    method, path, call = CALLS[name]
    api_with_state.faults.append(Fault(method, path, status=503, reset_mid_answer=True))
    call(client_for(api_with_state, tmp_path), api_with_state)
    assert len(api_with_state.calls(method)) == 2


def test_a_scale_applied_before_its_answer_was_cut_lands_once(kubeapi, tmp_path):
    """The reset comes after the apiserver applied the patch: the retry finds it done."""
    kubeapi.faults.append(Fault("PATCH", "/scale$", then_serve=True, reset_mid_answer=True))
    assert client_for(kubeapi, tmp_path).scale("tts", "chatterbox-tts", 1) == 1
    assert kubeapi.replicas() == 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("value", "retried"),
    [
        ("-1", True),  # not a delay: ignored, the default pause
        ("nan", True),
        ("soon", True),
        ("", True),
        ("0x10", True),
        ("0", True),
        ("1.5", True),
        ("inf", False),  # longer than any wait honoured: given up at once
        ("1e9", False),
        ("99999999999999999999999999", False),
        ("30", False),
        (timedelta(days=1), False),  # an HTTP-date a day away
        (-timedelta(days=1), True),  # an HTTP-date already past: at once
    ],
    ids=str,  # stable across xdist workers: an HTTP-date is made in the test, not at collection
)
def test_any_retry_after_is_a_bounded_wait(kubeapi, tmp_path, value, retried):
    if isinstance(value, timedelta):
        value = format_datetime(datetime.now(UTC) + value, usegmt=True)
    kubeapi.faults.append(Fault("PATCH", "/scale$", status=429, headers={"Retry-After": value}))
    client = client_for(kubeapi, tmp_path)
    if retried:
        assert client.scale("tts", "chatterbox-tts", 1) == 1
    else:
        with pytest.raises(KubeUnavailable, match="HTTP 429") as raised:
            client.scale("tts", "chatterbox-tts", 1)
        one_line_without_token(raised.value, kubeapi)
    assert len(kubeapi.calls("PATCH")) == (2 if retried else 1)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("3", 3.0),
        (" 2 ", 2.0),
        ("-1", None),
        ("nan", None),
        ("-inf", None),
        ("soon", None),
        ("inf", 86400.0),
        ("1e9", 86400.0),
        ("Wed, 12 Nov 2026 02:30:10 GMT", 10.0),
        ("Wed, 12 Nov 2026 02:29:00 GMT", 0.0),
        ("Wed, 12 Nov 2026 02:30:10", None),  # no zone: not an HTTP-date
        ("Wed, 99 Nov 2026 02:30:10 GMT", None),
    ],
)
def test_retry_after_values(value, seconds):
    now = datetime(2026, 11, 12, 2, 30, tzinfo=UTC).timestamp()
    assert retry_after_seconds(value, now=now) == seconds


def test_the_default_pause_is_one_the_client_honours():
    assert 0 < DEFAULT_RETRY_SECONDS <= MAX_RETRY_AFTER_SECONDS


@pytest.mark.parametrize(
    ("call", "body", "message"),
    [
        ("GET deployment", "null", "JSON null instead of a Deployment"),
        ("GET deployment", "[]", "JSON an array instead of a Deployment"),
        ("GET deployment", '"ok"', "JSON a string instead of a Deployment"),
        ("GET deployment", "{}", "kind none instead of a Deployment"),
        ("GET deployment", '{"kind": "Status", "status": "Success"}', 'kind "Status" instead of a Deployment'),
        ("GET deployment", '{"kind": "Deployment"}', "a Deployment without metadata"),
        ("GET deployment", '{"kind": "Deployment", "metadata": {}}', "a Deployment without spec"),
        ("GET deployment", '{"kind": "Deployment", "metadata": {}, "spec": {"replicas": "1"}}', 'spec.replicas "1", not a count'),
        ("GET deployment", '{"kind": "Deployment", "metadata": {}, "spec": {}, "status": []}', "status is not an object"),
        (
            "GET deployment",
            '{"kind": "Deployment", "metadata": {}, "spec": {}, "status": {"readyReplicas": -1}}',
            "status.readyReplicas -1, not a count",
        ),
        ("GET deployment", "not json", "a body that is not JSON"),
        ("GET deployment", "[" * 100000, "a body that is not JSON"),
        ("PATCH scale", "null", "JSON null instead of a Scale"),
        ("PATCH scale", '{"kind": "Scale", "metadata": {}}', "a Scale without spec"),
        ("PATCH scale", '{"kind": "Scale", "metadata": {}, "spec": null}', "a Scale without spec"),
        ("PATCH scale", '{"kind": "Scale", "metadata": {}, "spec": {"replicas": true}}', "spec.replicas true, not a count"),
        ("GET lease", "[]", "JSON an array instead of a Lease"),
        ("GET lease", '{"kind": "Lease", "metadata": null}', "a Lease without metadata"),
        ("GET lease", '{"kind": "Lease", "metadata": {"annotations": []}}', "metadata.annotations is not a map of strings"),
        ("GET lease", '{"kind": "Lease", "metadata": {"annotations": {"a": 1}}}', "metadata.annotations is not a map of strings"),
        ("PUT lease", "null", "JSON null instead of a Lease"),
        ("POST lease", "1", "JSON a number instead of a Lease"),
        ("POST event", "null", "JSON null instead of an Event"),
    ],
)
def test_a_2xx_that_is_not_the_object_asked_for_is_an_api_error(api_with_state, tmp_path, call, body, message):
    method, path, make_call = CALLS[call]
    api_with_state.faults.append(Fault(method, path, status=200, raw_body=body, times=2))
    with pytest.raises(KubeBadAnswer, match=f"HTTP 200.*{message}") as raised:
        make_call(client_for(api_with_state, tmp_path), api_with_state)
    assert isinstance(raised.value, KubeUnavailable)
    one_line_without_token(raised.value, api_with_state)


def test_a_scale_to_zero_omits_its_replicas_and_means_zero(kubeapi, tmp_path):
    """autoscaling/v1 ScaleSpec.replicas is omitempty: the apiserver answers a scale to 0 with `spec: {}`."""
    body = '{"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "chatterbox-tts"}, "spec": {}}'
    kubeapi.faults.append(Fault("PATCH", "/scale$", status=200, raw_body=body))
    assert client_for(kubeapi, tmp_path).scale("tts", "chatterbox-tts", 0) == 0


@pytest.mark.timeout(30)
@pytest.mark.parametrize("trickle_headers", [False, True], ids=["body", "headers"])
def test_a_trickling_api_server_cannot_hold_a_call_past_its_deadline(kubeapi, tmp_path, trickle_headers):
    """A byte every 0.3 s: each read gets data well within the socket timeout, so only an
    overall deadline can end the call (the body alone would take minutes)."""
    kubeapi.faults.append(Fault("GET", "deployments", then_serve=True, trickle_seconds=0.3, trickle_headers=trickle_headers, times=2))
    expected = "no answer" if trickle_headers else "no complete answer"
    with pytest.raises(KubeUnavailable, match=f"{expected} from http://127.0.0.1:[0-9]+ within 1s") as raised:
        client_for(kubeapi, tmp_path, timeout_seconds=1, attempts=2).get_deployment("tts", "chatterbox-tts")
    one_line_without_token(raised.value, kubeapi)
    assert len(kubeapi.calls("GET")) == 2


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "server.key", directory / "server.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=server"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.mark.timeout(30)
def test_the_deadline_holds_over_tls(tmp_path, certificate):
    with FakeKubeAPI(tls=certificate) as api:
        api.faults.append(Fault("GET", "deployments", then_serve=True, trickle_seconds=0.3, times=1))
        cluster = kube_config.from_kubeconfig(Path(api.kubeconfig(tmp_path / "kubeconfig", ca_file=certificate[0])))
        client = KubeClient(cluster, timeout_seconds=1, attempts=1)
        with pytest.raises(KubeUnavailable, match="no complete answer from https://127.0.0.1:[0-9]+ within 1s"):
            client.get_deployment("tts", "chatterbox-tts")
        assert client.get_deployment("tts", "chatterbox-tts")["kind"] == "Deployment"  # the pool recovers


@pytest.mark.timeout(60)
def test_deadlines_leave_no_threads_behind(kubeapi, tmp_path):
    client = client_for(kubeapi, tmp_path, attempts=1)
    before = threading.active_count()
    for _ in range(50):
        client.get_deployment("tts", "chatterbox-tts")
    assert threading.active_count() <= before + 2  # the double's handler threads finishing


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_oversized_body_is_refused(kubeapi, tmp_path, chunked):
    huge = json.dumps({"kind": "Deployment", "metadata": {"annotations": {"x": "y" * MAX_BODY_BYTES}}, "spec": {}})
    kubeapi.faults.append(Fault("GET", "deployments", status=200, raw_body=huge, chunked=chunked, times=2))
    with pytest.raises(KubeUnavailable, match=f"more than the {MAX_BODY_BYTES} (bytes )?allowed"):
        client_for(kubeapi, tmp_path).get_deployment("tts", "chatterbox-tts")


def test_a_gzip_bomb_is_refused_at_the_cap(kubeapi, tmp_path):
    bomb = gzip.compress(b'{"kind": "Deployment", "metadata": {"annotations": {"x": "' + b"0" * (64 * 2**20) + b'"}}}', 9)
    assert len(bomb) < MAX_BODY_BYTES / 10
    kubeapi.faults.append(Fault("GET", "deployments", status=200, raw_body=bomb, headers={"Content-Encoding": "gzip"}, times=2))
    with pytest.raises(KubeUnavailable, match=f"more than the {MAX_BODY_BYTES} bytes allowed"):
        client_for(kubeapi, tmp_path).get_deployment("tts", "chatterbox-tts")


def test_a_body_that_does_not_decode_is_api_unavailable(kubeapi, tmp_path):
    kubeapi.faults.append(Fault("GET", "deployments", status=200, raw_body="{}", headers={"Content-Encoding": "gzip"}, times=2))
    with pytest.raises(KubeUnavailable, match="a body that does not decode as its Content-Encoding says"):
        client_for(kubeapi, tmp_path).get_deployment("tts", "chatterbox-tts")


def test_an_oversized_error_is_cut_to_its_message(kubeapi, tmp_path):
    kubeapi.faults.append(Fault("GET", "deployments", status=403, raw_body="denied " * 2**20))
    with pytest.raises(KubeForbidden, match="HTTP 403: denied denied") as raised:
        client_for(kubeapi, tmp_path).get_deployment("tts", "chatterbox-tts")
    assert len(raised.value.detail) < 300


def test_a_refused_connection_is_api_unavailable(tmp_path):
    with FakeKubeAPI() as api:
        client = client_for(api, tmp_path, attempts=1)
    with pytest.raises(KubeUnavailable, match="cannot connect to http://127.0.0.1"):
        client.get_deployment("tts", "chatterbox-tts")


def test_a_closed_connection_before_an_answer_is_api_unavailable(kubeapi, tmp_path):
    kubeapi.faults.append(Fault("GET", "deployments", drop=True, times=2))
    with pytest.raises(KubeUnavailable, match="broken before an answer"):
        client_for(kubeapi, tmp_path).get_deployment("tts", "chatterbox-tts")


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
