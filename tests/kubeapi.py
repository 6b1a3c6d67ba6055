"""A loopback stand-in for kube-apiserver, faithful for the calls the gate makes.

Real behaviours it reproduces (read from kube-apiserver and apimachinery):

- Paths: `GET/PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}`, `GET/PATCH/PUT
  .../deployments/{name}/scale`, `GET/PUT /apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}`,
  `POST .../leases`, `POST /api/v1/namespaces/{ns}/events`. Anything else is a 404 `Status`
  ("the server could not find the requested resource").
- Leases as the apiserver keeps them: a PUT must carry the `metadata.resourceVersion` it read
  (none is 422 `Invalid`, a stale one 409 `Conflict`), a POST of an existing name is 409
  `AlreadyExists`, a missing Lease is 404 with `details.group: coordination.k8s.io`.
- Every error is a `metav1.Status` JSON body (`kind: Status`, `status: Failure`, `message`,
  `reason`, `details`, `code`) with `Content-Type: application/json`.
- Authentication before anything else: no or an unknown bearer token is 401 `Unauthorized`.
- Authorization per verb, resource and subresource: a denied call is 403 `Forbidden` with the
  apiserver's message shape (`... is forbidden: User "..." cannot patch resource
  "deployments/scale" in API group "apps" in the namespace "..."`).
- PATCH accepts only the patch media types (`application/merge-patch+json`,
  `application/strategic-merge-patch+json`, `application/json-patch+json`,
  `application/apply-patch+yaml`); any other is 415 `UnsupportedMediaType`. POST/PUT take JSON.
- The scale subresource answers an `autoscaling/v1` `Scale` (not the Deployment), and patching
  it changes the Deployment's `spec.replicas`, `metadata.generation` and `resourceVersion`.
- JSON merge patch per RFC 7386: `null` removes a key.
- A patch or update carrying a stale `metadata.resourceVersion` is 409 `Conflict`; a negative
  `spec.replicas` is 422 `Invalid`; a missing Deployment is 404 `NotFound` with
  `details.group: apps, kind: deployments`; an Event whose namespace differs from the URL's is
  400 `BadRequest`, and one whose name exists already is 409 `AlreadyExists`.
- `?dryRun=All` authorizes, validates and answers as usual but persists nothing.
- A projected token the kubelet rotates: with `rotate_token_file`, the first authenticated call
  retires token-1 and writes token-2 to that file, as a rotation between two calls would.
- TLS with a given certificate (`tls=(certfile, keyfile)`), for CA checks.
- EndpointSlices as the EndpointSlice controller writes them for a DaemonSet's Service: `GET
  /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector=kubernetes.io/service-name=X`
  (RBAC verb `list`) answers an `EndpointSliceList` of `discovery.k8s.io/v1` slices labelled
  with the Service's name, one slice per port set (`ports: [{name, port, protocol}]`, the
  target port), each endpoint with `addresses`, `conditions` (`ready`, `serving`,
  `terminating`), `nodeName` and a Pod `targetRef`; and `GET /api/v1/namespaces/{ns}/services/X`.
- Injected faults for what a real server does under stress: 429 with `Retry-After`, 500/503,
  answers that arrive late, or a connection closed without an answer. A `Fault` answers with its
  `status` (a Status object), or with `then_serve` serves the request for real (it is applied)
  and answers with what the apiserver would; either answer can then be delivered broken:
  - `headers`: any extra header, as sent, e.g. `{"Retry-After": "nan"}` (also -1, inf, 1e9,
    "soon", an HTTP-date): a server or a proxy in front of it may send anything there.
  - `raw_body`: exactly this body instead (Content-Type application/json), e.g. `"null"`, `"[]"`,
    `'"ok"'`, `'{"kind": "Status"}'`; with `status=200` it is a 2xx that is not the object asked
    for, as a proxy or a broken aggregated API might answer. Bytes are sent as they are (with
    `headers={"Content-Encoding": "gzip"}`, a compressed body).
  - `reset_mid_answer`: the status line, headers with the whole body's Content-Length, half the
    body, then a TCP reset (SO_LINGER 0): an apiserver restart or a load balancer's reset.
  - `short_body`: the same but a clean close (FIN): a body short of its Content-Length.
  - `broken_chunks`: `Transfer-Encoding: chunked`, a first chunk, then a chunk-size line that is
    not hex, then a close.
  - `chunked`: the body sent chunked, without Content-Length (a size cap must hold as it streams).
  - `trickle_seconds`: the status line and headers at once, then the body one byte every
    `trickle_seconds` (until it ends or the client hangs up); with `trickle_headers` the status
    line and headers trickle too.
- Another actor at a chosen moment (`Fault.meanwhile`): run as the matching request arrives,
  before it is answered, e.g. an operator deleting the gate's Lease between a run's read and its
  write (the apiserver then answers that write 404), or scaling the Deployment by hand.
- Contention on the gate's Lease (`rival_writes_per_put`): before each PUT, another writer (a
  CronJob, the sidecar) may update the Lease, so the PUT's resourceVersion is stale and it is
  409 `Conflict`, exactly as a lost race is: with N, the first N PUTs of every N + 1 lose.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from loopback import LoopbackHandler, LoopbackServer

PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)

DEPLOYMENT_RE = re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)(/scale)?$")
EVENTS_RE = re.compile(r"^/api/v1/namespaces/([^/]+)/events$")
SLICES_RE = re.compile(r"^/apis/discovery\.k8s\.io/v1/namespaces/([^/]+)/endpointslices$")
SERVICE_RE = re.compile(r"^/api/v1/namespaces/([^/]+)/services/([^/]+)$")
LEASE_RE = re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/([^/]+)/leases(?:/([^/]+))?$")
LEASES = "coordination.k8s.io"


@dataclass
class Fault:
    """Answer the next `times` matching requests this way instead of serving them."""

    method: str
    path_regex: str
    status: int = 503
    times: int = 1
    delay_seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # None: a Status object for `status`
    drop: bool = False  # close the connection without answering
    then_serve: bool = False  # after the delay, serve the request normally (a delivery fault below still applies)
    # How the answer is delivered (see the module docstring); all off by default.
    raw_body: str | bytes | None = None  # exactly this body, application/json
    reset_mid_answer: bool = False  # half the body of a whole Content-Length, then a TCP reset
    short_body: bool = False  # half the body of a whole Content-Length, then a clean close
    broken_chunks: bool = False  # chunked, then a chunk-size line that is not hex
    chunked: bool = False  # chunked, no Content-Length
    trickle_seconds: float = 0.0  # the body one byte at a time, this far apart
    trickle_headers: bool = False  # with trickle_seconds: the status line and headers too
    meanwhile: Any = None  # a callable run as the request arrives, before it is answered (another actor)

    def delivery(self) -> bool:
        """Whether the answer is written by hand (`_deliver`) rather than as the apiserver would."""
        fields = (self.reset_mid_answer, self.short_body, self.broken_chunks, self.chunked, self.trickle_seconds > 0)
        return self.raw_body is not None or any(fields)


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class FakeKubeAPI(LoopbackServer):
    """Start with `with FakeKubeAPI() as api:`; `api.url` is the server, `api.token` a valid token."""

    def __init__(
        self,
        namespace: str = "tts",
        deployment: str = "chatterbox-tts",
        replicas: int = 0,
        tls: tuple[str, str] | None = None,
    ):
        self.namespace = namespace
        self.user = f"system:serviceaccount:{namespace}:tts-gate"
        self.tokens = {"token-1"}
        self.token = "token-1"
        self.denied: set[tuple[str, str]] = set()  # (verb, resource[/subresource])
        self.faults: list[Fault] = []
        self.rotate_token_file: Any = None
        self.requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.deployments: dict[tuple[str, str], dict[str, Any]] = {}
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.services: dict[tuple[str, str], dict[str, Any]] = {}
        self.endpoint_slices: dict[tuple[str, str], list[dict[str, Any]]] = {}  # by (namespace, service)
        self._resource_version = 1000
        self._lock = threading.Lock()
        self.rival_writes_per_put = 0
        self._lease_puts = 0
        self.add_deployment(namespace, deployment, replicas)
        self.listen(self._handler(), tls)

    # -- state ------------------------------------------------------------------------------

    def _next_rv(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def add_deployment(self, namespace: str, name: str, replicas: int, annotations: dict[str, str] | None = None) -> None:
        self.deployments[(namespace, name)] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": f"uid-{namespace}-{name}",
                "resourceVersion": self._next_rv(),
                "generation": 1,
                "creationTimestamp": "2026-11-01T00:00:00Z",
                "annotations": dict(annotations or {}),
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            },
            "status": {"replicas": replicas},
        }

    def add_service(
        self,
        namespace: str,
        name: str,
        port: int,
        endpoints: list[tuple[str, str, int, str, bool]],
        port_name: str = "metrics",
        more_ports: dict[str, int] | None = None,
    ) -> None:
        """A Service on `port` and its EndpointSlices: `endpoints` are (node, address, target port,
        pod, ready), one per DaemonSet pod; pods on different target ports (loopback doubles) get
        a slice each, as the controller groups endpoints by their port set. `more_ports` (name ->
        port, the target the same) are the Service's other ports, in every slice too."""
        others = [{"name": n, "port": p, "protocol": "TCP", "targetPort": p} for n, p in (more_ports or {}).items()]
        self.services[(namespace, name)] = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": self._next_rv()},
            "spec": {
                "ports": [{"name": port_name, "port": port, "protocol": "TCP", "targetPort": port_name}, *others],
                "type": "ClusterIP",
            },
        }
        by_port: dict[int, list[dict[str, Any]]] = {}
        for node, address, target, pod, ready in endpoints:
            by_port.setdefault(target, []).append(
                {
                    "addresses": [address],
                    "conditions": {"ready": ready, "serving": ready, "terminating": False},
                    "nodeName": node,
                    "targetRef": {"kind": "Pod", "name": pod, "namespace": namespace},
                }
            )
        self.endpoint_slices[(namespace, name)] = [
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{name}-{n:05x}",
                    "namespace": namespace,
                    "labels": {
                        "kubernetes.io/service-name": name,
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    },
                    "resourceVersion": self._next_rv(),
                },
                "addressType": "IPv4",
                "ports": [
                    {"name": port_name, "port": target, "protocol": "TCP"},
                    *({k: o[k] for k in ("name", "port", "protocol")} for o in others),
                ],
                "endpoints": listed,
            }
            for n, (target, listed) in enumerate(sorted(by_port.items()))
        ]

    def replicas(self, name: str = "chatterbox-tts") -> int | None:
        """The Deployment's desired replicas; None when it does not exist."""
        deployment = self.deployments.get((self.namespace, name))
        return deployment["spec"]["replicas"] if deployment else None

    def annotations(self, name: str = "chatterbox-tts") -> dict[str, str]:
        """The Deployment's own annotations (the gate keeps none there)."""
        return self.deployments[(self.namespace, name)]["metadata"].get("annotations") or {}

    def set_state(self, annotations: dict[str, str], deployment: str = "chatterbox-tts") -> None:
        """Give the gate's Lease these annotations, as an earlier run would have left them."""
        self.leases[(self.namespace, f"{deployment}-gate")] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": f"{deployment}-gate",
                "namespace": self.namespace,
                "uid": f"uid-lease-{deployment}",
                "resourceVersion": self._next_rv(),
                "creationTimestamp": "2026-11-01T00:00:00Z",
                "annotations": dict(annotations),
            },
            "spec": {"holderIdentity": "tts-gate"},
        }

    def delete_state(self, deployment: str = "chatterbox-tts") -> None:
        """Delete the gate's Lease, as `kubectl delete lease` would."""
        with self._lock:
            self.leases.pop((self.namespace, f"{deployment}-gate"), None)

    def scale_by_hand(self, replicas: int, name: str = "chatterbox-tts") -> None:
        """`kubectl scale`: the replicas, and the generation and resourceVersion they move."""
        with self._lock:
            deployment = self.deployments[(self.namespace, name)]
            if deployment["spec"]["replicas"] != replicas:
                deployment["spec"]["replicas"] = replicas
                deployment["metadata"]["generation"] += 1
                deployment["metadata"]["resourceVersion"] = self._next_rv()

    def state(self, deployment: str = "chatterbox-tts") -> dict[str, str]:
        """The gate's state: its Lease's annotations ({} when there is no Lease)."""
        lease = self.leases.get((self.namespace, f"{deployment}-gate"))
        return dict((lease or {}).get("metadata", {}).get("annotations") or {})

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.requests if method is None or r["method"] == method]

    def kubeconfig(
        self,
        path: Any,
        token: str | None = None,
        token_file: str | None = None,
        namespace: str | None = None,
        ca_file: str | None = None,
    ) -> str:
        user: dict[str, Any] = {"tokenFile": str(token_file)} if token_file else {"token": token or self.token}
        context: dict[str, Any] = {"cluster": "fake", "user": "gate"}
        if namespace:
            context["namespace"] = namespace
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url, **({"certificate-authority": ca_file} if ca_file else {})}}],
            "users": [{"name": "gate", "user": user}],
            "contexts": [{"name": "fake", "context": context}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(document))
        return str(path)

    # -- serving ----------------------------------------------------------------------------

    def _handler(self) -> type[LoopbackHandler]:
        api = self

        class Handler(LoopbackHandler):
            def _send(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                self.answer(code, "application/json", json.dumps(payload).encode(), headers)

            def _serve(self, method: str) -> None:
                body = self.read_body()
                record = {
                    "method": method,
                    "path": self.path,
                    "content_type": self.headers.get("Content-Type"),
                    "authorization": self.headers.get("Authorization"),
                    "body": body.decode(errors="replace"),
                }
                with api._lock:
                    api.requests.append(record)
                    fault = api._take_fault(method, self.path)
                if fault is not None:
                    if fault.meanwhile is not None:
                        fault.meanwhile()
                    if fault.delay_seconds:
                        time.sleep(fault.delay_seconds)
                    if fault.drop:
                        self.drop()
                        return
                    if not fault.then_serve:
                        payload = status_body(fault.status, _reason_for(fault.status), fault.body or _message_for(fault.status))
                        if fault.delivery():
                            self._deliver(fault, fault.status, payload)
                        else:
                            self._send(fault.status, payload, fault.headers)
                        return
                with api._lock:
                    code, payload = api._route(method, self.path, self.headers, body)
                if fault is not None and fault.delivery():
                    self._deliver(fault, code, payload)
                    return
                self._send(code, payload, fault.headers if fault is not None else None)

            def _deliver(self, fault: Fault, code: int, payload: Any) -> None:
                """Write the answer by hand, as `fault` says, then close the connection."""
                self.close_connection = True
                data = fault.raw_body if fault.raw_body is not None else json.dumps(payload)
                data = data.encode() if isinstance(data, str) else data
                chunked = fault.chunked or fault.broken_chunks
                head = [("Content-Type", "application/json"), ("Connection", "close")]
                head.append(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(data))))
                head_bytes = self.raw_head(code, [*head, *fault.headers.items()])
                if fault.broken_chunks:
                    half = data[: max(1, len(data) // 2)]
                    body = f"{len(half):x}\r\n".encode() + half + b"\r\nnot-hex\r\n"
                elif chunked:
                    body = b"".join(
                        f"{len(data[i : i + 4096]):x}\r\n".encode() + data[i : i + 4096] + b"\r\n" for i in range(0, len(data), 4096)
                    )
                    body += b"0\r\n\r\n"
                elif fault.reset_mid_answer or fault.short_body:
                    body = data[: len(data) // 2]
                else:
                    body = data
                try:
                    if fault.trickle_seconds > 0:
                        if fault.trickle_headers:
                            self.trickle(head_bytes, fault.trickle_seconds)
                        else:
                            self.connection.sendall(head_bytes)
                        self.trickle(body, fault.trickle_seconds)
                    else:
                        self.connection.sendall(head_bytes + body)
                    if fault.reset_mid_answer:
                        self.reset()
                    else:
                        self.connection.close()
                except OSError:
                    pass  # the client hung up first (its deadline): what a trickle is for

            def do_GET(self) -> None:
                self._serve("GET")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method in (method, "*") and re.search(fault.path_regex, path) and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def _route(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        path, _, query = path.partition("?")
        if "dryRun=All" in query.split("&"):
            saved = (copy.deepcopy(self.deployments), copy.deepcopy(self.leases), list(self.events), self._resource_version)
            try:
                return self._route(method, path, headers, body)
            finally:
                self.deployments, self.leases, self.events, self._resource_version = saved
        auth = headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or auth[len("Bearer ") :] not in self.tokens:
            return 401, status_body(401, "Unauthorized", "Unauthorized")
        if self.rotate_token_file is not None:
            self.tokens = {"token-2"}
            self.rotate_token_file.write_text("token-2\n")
            self.rotate_token_file = None
        if match := DEPLOYMENT_RE.match(path):
            namespace, name, scale = match.group(1), match.group(2), bool(match.group(3))
            return self._deployment(method, namespace, name, scale, headers, body)
        if match := LEASE_RE.match(path):
            return self._lease(method, match.group(1), match.group(2), headers, body)
        if match := SLICES_RE.match(path):
            return self._slices(method, match.group(1), query)
        if match := SERVICE_RE.match(path):
            return self._service(method, match.group(1), match.group(2))
        if match := EVENTS_RE.match(path):
            if method != "POST":
                return 405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            return self._event(match.group(1), headers, body)
        return 404, status_body(404, "NotFound", "the server could not find the requested resource")

    def _forbidden(self, verb: str, resource: str, namespace: str, name: str, group: str = "apps") -> tuple[int, Any] | None:
        if (verb, resource) not in self.denied:
            return None
        kind = resource.split("/")[0]
        qualified = f"{kind}.{group}" if group else kind
        message = (
            f'{qualified} "{name}" is forbidden: User "{self.user}" cannot {verb} resource "{resource}" '
            f'in API group "{group}" in the namespace "{namespace}"'
        )
        return 403, status_body(403, "Forbidden", message, {"name": name, "group": group, "kind": kind})

    def _slices(self, method: str, namespace: str, query: str) -> tuple[int, Any]:
        if method != "GET":
            return 405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        denied = self._forbidden("list", "endpointslices", namespace, "", "discovery.k8s.io")
        if denied:
            return denied
        selector = unquote(dict(p.partition("=")[::2] for p in query.split("&") if p).get("labelSelector", ""))
        key, _, value = selector.partition("=")
        items = [
            s
            for (ns, _), slices in self.endpoint_slices.items()
            if ns == namespace
            for s in slices
            if not selector or s["metadata"]["labels"].get(key) == value
        ]
        return 200, {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSliceList",
            "metadata": {"resourceVersion": str(self._resource_version)},
            "items": copy.deepcopy(items),
        }

    def _service(self, method: str, namespace: str, name: str) -> tuple[int, Any]:
        if method != "GET":
            return 405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        denied = self._forbidden("get", "services", namespace, name, "")
        if denied:
            return denied
        service = self.services.get((namespace, name))
        if service is None:
            return 404, status_body(404, "NotFound", f'services "{name}" not found', {"name": name, "kind": "services"})
        return 200, copy.deepcopy(service)

    def _deployment(self, method: str, namespace: str, name: str, scale: bool, headers: Any, body: bytes) -> tuple[int, Any]:
        verb = {"GET": "get", "PATCH": "patch", "PUT": "update"}.get(method)
        if verb is None:
            return 405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        denied = self._forbidden(verb, "deployments/scale" if scale else "deployments", namespace, name)
        if denied:
            return denied
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip()
        if method == "PATCH" and content_type not in PATCH_TYPES:
            return 415, status_body(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: {', '.join(PATCH_TYPES)}",
            )
        if method == "PUT" and content_type != "application/json":
            return 415, status_body(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
        deployment = self.deployments.get((namespace, name))
        if deployment is None:
            return 404, status_body(
                404, "NotFound", f'deployments.apps "{name}" not found', {"name": name, "group": "apps", "kind": "deployments"}
            )
        if method == "GET":
            return 200, self._scale_of(deployment) if scale else deployment
        try:
            patch = json.loads(body or b"null")
        except ValueError:
            return 400, status_body(400, "BadRequest", "error decoding patch: invalid character")
        if content_type != "application/merge-patch+json" and method == "PATCH":
            return 400, status_body(400, "BadRequest", "this double implements merge patches only")
        if not isinstance(patch, dict):
            return 400, status_body(400, "BadRequest", "error decoding patch: not a JSON object")
        sent_rv = (patch.get("metadata") or {}).get("resourceVersion")
        if sent_rv is not None and sent_rv != deployment["metadata"]["resourceVersion"]:
            return 409, status_body(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on deployments.apps "{name}": the object has been modified; '
                "please apply your changes to the latest version and try again",
                {"name": name, "group": "apps", "kind": "deployments"},
            )
        if scale:
            current = self._scale_of(deployment)
            updated = merge_patch(current, patch) if method == "PATCH" else patch
            replicas = (updated.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                return 422, status_body(
                    422,
                    "Invalid",
                    f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {json.dumps(replicas)}: '
                    "must be greater than or equal to 0",
                    {"name": name, "group": "autoscaling", "kind": "Scale"},
                )
            if replicas != deployment["spec"]["replicas"]:
                deployment["spec"]["replicas"] = replicas
                deployment["metadata"]["generation"] += 1
                deployment["metadata"]["resourceVersion"] = self._next_rv()
            return 200, self._scale_of(deployment)
        patch.get("metadata", {}).pop("resourceVersion", None)
        updated = merge_patch(deployment, patch)
        updated["metadata"]["resourceVersion"] = self._next_rv()
        self.deployments[(namespace, name)] = updated
        return 200, updated

    def _lease(self, method: str, namespace: str, name: str | None, headers: Any, body: bytes) -> tuple[int, Any]:
        verb = {("GET", True): "get", ("PUT", True): "update", ("POST", False): "create"}.get((method, name is not None))
        if verb is None:
            return 405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        denied = self._forbidden(verb, "leases", namespace, name or "", group=LEASES)
        if denied:
            return denied
        not_found = (
            404,
            status_body(404, "NotFound", f'leases.{LEASES} "{name}" not found', {"name": name, "group": LEASES, "kind": "leases"}),
        )
        if method == "GET":
            lease = self.leases.get((namespace, name or ""))
            return (200, lease) if lease is not None else not_found
        if (headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return 415, status_body(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
        try:
            lease = json.loads(body)
        except ValueError:
            return 400, status_body(400, "BadRequest", "the object provided is unrecognized")
        meta = lease.setdefault("metadata", {})
        if meta.get("namespace", namespace) != namespace:
            return 400, status_body(
                400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"
            )
        if method == "POST":
            key = (namespace, meta.get("name") or "")
            if not key[1]:
                return 422, status_body(422, "Invalid", 'Lease.coordination.k8s.io "" is invalid: metadata.name: Required value')
            if key in self.leases:
                return 409, status_body(
                    409, "AlreadyExists", f'leases.{LEASES} "{key[1]}" already exists', {"name": key[1], "group": LEASES, "kind": "leases"}
                )
            meta.update(namespace=namespace, uid=f"uid-lease-{key[1]}", resourceVersion=self._next_rv())
            self.leases[key] = lease
            return 201, lease
        current = self.leases.get((namespace, name or ""))
        if current is None:
            return not_found
        if meta.get("name") != name:
            return 400, status_body(400, "BadRequest", "the name of the object does not match the name on the URL")
        if not meta.get("resourceVersion"):
            return 422, status_body(
                422,
                "Invalid",
                f'Lease.coordination.k8s.io "{name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
                "must be specified for an update",
            )
        if self.rival_writes_per_put:
            self._lease_puts += 1
            if self._lease_puts % (self.rival_writes_per_put + 1):
                current = self._rival_write(namespace, name or "")
        if meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
            return 409, status_body(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on leases.{LEASES} "{name}": the object has been modified; '
                "please apply your changes to the latest version and try again",
                {"name": name, "group": LEASES, "kind": "leases"},
            )
        meta.update(namespace=namespace, uid=current["metadata"]["uid"], resourceVersion=self._next_rv())
        self.leases[(namespace, name or "")] = lease
        return 200, lease

    def _rival_write(self, namespace: str, name: str) -> dict[str, Any]:
        """Another writer updates the Lease: an annotation of its own, a new resourceVersion."""
        lease = copy.deepcopy(self.leases[(namespace, name)])
        annotations = lease["metadata"].setdefault("annotations", {})
        annotations["rival.test/writes"] = str(int(annotations.get("rival.test/writes", "0")) + 1)
        lease["metadata"]["resourceVersion"] = self._next_rv()
        self.leases[(namespace, name)] = lease
        return lease

    def _scale_of(self, deployment: dict[str, Any]) -> dict[str, Any]:
        meta = deployment["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
            "spec": {"replicas": deployment["spec"]["replicas"]},
            "status": {"replicas": deployment["status"]["replicas"], "selector": f"app.kubernetes.io/name={meta['name']}"},
        }

    def _event(self, namespace: str, headers: Any, body: bytes) -> tuple[int, Any]:
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type not in ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf"):
            return 415, status_body(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
        denied = self._forbidden("create", "events", namespace, "", group="")
        if denied:
            return denied
        try:
            event = json.loads(body)
        except ValueError:
            return 400, status_body(400, "BadRequest", "the object provided is unrecognized")
        meta = event.get("metadata") or {}
        if meta.get("namespace", namespace) != namespace:
            return 400, status_body(
                400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"
            )
        if not meta.get("name"):
            return 422, status_body(422, "Invalid", 'Event "" is invalid: metadata.name: Required value: name or generateName is required')
        if any(e["metadata"]["name"] == meta["name"] for e in self.events):
            return 409, status_body(409, "AlreadyExists", f'events "{meta["name"]}" already exists')
        event["metadata"]["resourceVersion"] = self._next_rv()
        self.events.append(event)
        return 201, event


def _reason_for(code: int) -> str:
    return {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        422: "Invalid",
        429: "TooManyRequests",
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }.get(code, "Unknown")


def _message_for(code: int) -> str:
    return {
        429: "storage is (re)initializing",
        500: "Internal error occurred: etcdserver: request timed out",
        503: "the server is currently unable to handle the request",
        504: "the server was unable to return a response in the time allotted, but may still be processing the request",
    }.get(code, _reason_for(code))
