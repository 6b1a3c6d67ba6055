"""The few API calls the gate makes, over requests, with bounded time and bounded retries.

- read the Deployment (desired and ready replicas): GET apps/v1 deployments/NAME
- scale it: PATCH deployments/NAME/scale, application/merge-patch+json, so RBAC can be limited
  to `deployments/scale` on one resourceName
- keep the gate's state in the annotations of a coordination.k8s.io/v1 Lease: GET it, PUT it
  back with the resourceVersion it was read at (a writer that lost the race gets 409), POST it
  when it does not exist yet. Nothing here can change the server's pod template.
- record decisions: POST a core/v1 Event about the Deployment
- find an exporter's pod on the card's node: LIST discovery.k8s.io/v1 endpointslices of its
  Service (by the `kubernetes.io/service-name` label), and GET the Service when it has several
  ports (gate.locate)

tests/test_rbac.py derives the Role's verbs from these calls.

Every way the transport can fail is KubeUnavailable ("API unavailable") with a one-line reason:
no connection, a reset or a close part-way through an answer, a body short of its
Content-Length, broken chunked encoding, a body that does not decode. A 2xx answer that is not
the object asked for (not JSON, `null`, an array, another kind, a Deployment or Scale without
spec) is KubeBadAnswer, a KubeUnavailable.

Time is bounded, whatever the peer does:

- one attempt: `timeout_seconds` for everything (connect, TLS, status line, headers, the whole
  body). The shared deadline watcher (gate.socket_deadline) shuts the call's socket down at its deadline, so
  a peer that trickles a byte at a time cannot hold the call past it; the body is read in chunks
  under the deadline and capped at MAX_BODY_BYTES (an error answer's at MAX_ERROR_BODY_BYTES:
  only its message is used), measured after any Content-Encoding is undone.
- between attempts: the server's Retry-After (delay-seconds or an HTTP-date), or
  DEFAULT_RETRY_SECONDS when it names none. A Retry-After that is not a valid delay (negative,
  NaN, a word) is ignored; one longer than MAX_RETRY_AFTER_SECONDS (a huge value, infinity) ends
  the call at once without waiting: the next iteration asks again.
- so one call takes at most
  `attempts × timeout_seconds + (attempts − 1) × MAX_RETRY_AFTER_SECONDS` (+ a few ms of timer
  slack): 15 s with the defaults (2 attempts, 5 s timeout).
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import threading
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests
import urllib3
from requests.adapters import HTTPAdapter

from gate.kube.answers import Answer, api_object
from gate.kube.config import ClusterConfig
from gate.kube.errors import KubeError, KubeUnavailable
from gate.socket_deadline import Deadline

MERGE_PATCH = "application/merge-patch+json"
_LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
# The longest wait between two attempts; a server asking for longer gets no second attempt now.
MAX_RETRY_AFTER_SECONDS = 5.0
# The wait between two attempts when the server names none (or names an invalid one).
DEFAULT_RETRY_SECONDS = 0.5
# A Lease, a Deployment or a Scale is a few KiB; etcd refuses objects over 1.5 MiB.
MAX_BODY_BYTES = 4 * 2**20
MAX_ERROR_BODY_BYTES = 64 * 2**10
_CHUNK = 64 * 2**10
_NEVER = 86400.0  # a Retry-After beyond any wait the gate would honour, kept finite
COMPONENT = "tts-gate"


class KubeClient:
    def __init__(self, config: ClusterConfig, timeout_seconds: float = 5.0, attempts: int = 2):
        self.config = config
        self.timeout_seconds = timeout_seconds
        self.attempts = max(1, attempts)
        self.session = requests.Session()
        adapter = _DeadlineAdapter()
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = COMPONENT
        self.session.headers["Accept"] = "application/json"

    # -- the calls ---------------------------------------------------------------------------

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any]:
        return self._call(
            "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", f"get deployment {namespace}/{name}", "Deployment"
        )

    def scale(self, namespace: str, name: str, replicas: int, dry_run: bool = False) -> int:
        """Set desired replicas through the scale subresource; returns what the server now holds.

        `dry_run` asks the API server to authorize and validate without persisting (dryRun=All).
        """
        answer = self._call(
            "PATCH",
            f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale{_dry(dry_run)}",
            f"scale deployment {namespace}/{name} to {replicas}",
            "Scale",
            body={"spec": {"replicas": replicas}},
            content_type=MERGE_PATCH,
        )
        return int(answer["spec"].get("replicas", 0))  # omitempty: a Scale to zero has no replicas

    def get_lease(self, namespace: str, name: str) -> dict[str, Any]:
        return self._call("GET", f"{_LEASES.format(namespace=namespace)}/{name}", f"get lease {namespace}/{name}", "Lease")

    def create_lease(
        self,
        namespace: str,
        name: str,
        labels: dict[str, str] | None = None,
        dry_run: bool = False,
        annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Create the Lease for the gate's state (with its first state); 409 (KubeConflict) when it already exists."""
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {}), "annotations": dict(annotations or {})},
            "spec": {"holderIdentity": COMPONENT},
        }
        return self._call(
            "POST", f"{_LEASES.format(namespace=namespace)}{_dry(dry_run)}", f"create lease {namespace}/{name}", "Lease", body=body
        )

    def update_lease(self, lease: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """PUT the Lease back; its metadata.resourceVersion makes a concurrent change a 409."""
        meta = lease.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        return self._call(
            "PUT", f"{_LEASES.format(namespace=namespace)}/{name}{_dry(dry_run)}", f"update lease {namespace}/{name}", "Lease", body=lease
        )

    def record_event(self, deployment: dict[str, Any], reason: str, message: str, warning: bool = False, dry_run: bool = False) -> None:
        meta = deployment.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            # The name kubectl's recorder uses: the object's name and a nanosecond stamp in hex.
            "metadata": {"name": f"{name}.{time.time_ns():x}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name,
                "namespace": namespace,
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": socket.gethostname()[:128],
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        self._call("POST", f"/api/v1/namespaces/{namespace}/events{_dry(dry_run)}", f"record event {reason}", "Event", body=event)

    def list_endpoint_slices(self, namespace: str, service: str) -> dict[str, Any]:
        """The Service's EndpointSlices (an EndpointSliceList)."""
        selector = quote(f"kubernetes.io/service-name={service}", safe="")
        return self._call(
            "GET",
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices?labelSelector={selector}",
            f"list endpointslices of service {namespace}/{service}",
            "EndpointSliceList",
        )

    def get_service(self, namespace: str, name: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/namespaces/{namespace}/services/{name}", f"get service {namespace}/{name}", "Service")

    # -- transport ---------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, what: str, kind: str, body: Any = None, content_type: str = "application/json"
    ) -> dict[str, Any]:
        for attempt in range(1, self.attempts + 1):
            try:
                return self._once(method, path, what, kind, body, content_type)
            except KubeUnavailable as exc:
                wait = exc.retry_after if exc.retry_after is not None else DEFAULT_RETRY_SECONDS
                if attempt == self.attempts or wait > MAX_RETRY_AFTER_SECONDS:
                    raise
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, method: str, path: str, what: str, kind: str, body: Any, content_type: str) -> dict[str, Any]:
        headers, data = self._payload(body, content_type)
        return api_object(self._exchange(method, path, what, headers, data), what, kind)

    def _payload(self, body: Any, content_type: str) -> tuple[dict[str, str], str | None]:
        """The request's headers (the credentials, the body's type) and its body as JSON."""
        headers = {}
        token = self.config.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        return headers, data

    def _exchange(self, method: str, path: str, what: str, headers: dict[str, str], data: str | None) -> Answer:
        """One request and its whole answer under one deadline; every way the transport fails is
        KubeUnavailable (`_transport_failure`)."""
        deadline = _Deadline(self.timeout_seconds)
        status: int | None = None  # set once the status line and headers are in
        try:
            # verify and cert per request: set on the session, REQUESTS_CA_BUNDLE in the environment would win.
            # stream: the body is read below, under the deadline and the size cap.
            with (
                deadline,
                self.session.request(
                    method,
                    self.config.server + path,
                    data=data,
                    headers=headers,
                    timeout=deadline.remaining(),
                    verify=self.config.verify,
                    cert=self.config.client_cert,
                    stream=True,
                    allow_redirects=False,
                ) as answer,
            ):
                status = answer.status_code
                ok = 200 <= status < 300
                raw = _read_body(answer, what, deadline, MAX_BODY_BYTES if ok else MAX_ERROR_BODY_BYTES, truncate=not ok)
                retry_after = None if ok else retry_after_seconds(answer.headers.get("Retry-After"))  # an error's alone
                reason = answer.reason
        except KubeError:
            raise
        except Exception as exc:
            failure = self._transport_failure(exc, what, deadline, answered=status is not None)
            if failure is None:
                raise  # a bug of ours, not the API's: let it show
            raise failure from exc
        return Answer(status, raw, reason, retry_after)

    def _transport_failure(self, exc: Exception, what: str, deadline: _Deadline, answered: bool) -> KubeUnavailable | None:
        """What a failed exchange is to the caller (`answered`: the status line and headers were
        in); None for an exception no transport raises (a bug of ours)."""
        server, seconds = self.config.server, self.timeout_seconds
        if deadline.expired():
            if not answered:
                return KubeUnavailable(what, f"no answer from {server} within {seconds:g}s")
            return KubeUnavailable(what, f"no complete answer from {server} within {seconds:g}s")
        if isinstance(exc, requests.exceptions.SSLError):
            return KubeUnavailable(what, f"TLS verification with {server} failed (wrong CA?)")
        if isinstance(exc, requests.exceptions.Timeout):
            return KubeUnavailable(what, f"no answer from {server} within {seconds:g}s")
        if not answered and isinstance(exc, requests.exceptions.ConnectionError) and _refused(exc):
            return KubeUnavailable(what, f"cannot connect to {server}")
        if not isinstance(exc, _TRANSPORT_ERRORS):
            return None
        where = "before an answer" if not answered else "part-way through the answer"
        return KubeUnavailable(what, f"connection to {server} broken {where}: {_transport_cause(exc)}")


class _Deadline(Deadline):
    """A call's deadline (gate.socket_deadline), also known to the calling thread: the connections this
    thread opens meanwhile report their sockets to it (`_Watched`), so the body loop and every
    read under the request are bounded by it."""

    def __enter__(self) -> _Deadline:
        super().__enter__()
        _active.deadline = self
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        _active.deadline = None


_active = threading.local()  # the deadline of the call this thread is making


def _watched(connection_or_socket: Any) -> None:
    deadline = getattr(_active, "deadline", None)
    if deadline is not None and connection_or_socket is not None:
        deadline.watch(connection_or_socket)


class _Watched:
    """Reports the connection, and each socket it reads from, to the calling thread's deadline.
    Sockets too: http.client drops a connection's socket once an answer says Connection: close,
    and the answer goes on reading from it."""

    sock: Any

    def connect(self) -> None:
        _watched(self)
        super().connect()  # type: ignore[misc]
        _watched(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)  # a kept-alive connection is reused without connect()
        _watched(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]

    def getresponse(self) -> Any:
        _watched(self.sock)
        return super().getresponse()  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections report to the calling thread's deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are classes of their own: left as they are
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

# What can go wrong under the call, below HTTP: requests' own errors (ChunkedEncodingError,
# ContentDecodingError, ConnectionError...), urllib3's (ProtocolError, IncompleteRead,
# DecodeError), http.client's (IncompleteRead, RemoteDisconnected, LineTooLong) and the socket's.
_TRANSPORT_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


def _read_body(answer: requests.Response, what: str, deadline: _Deadline, limit: int, truncate: bool) -> bytes:
    """The body, read under the call's deadline; more than `limit` bytes is refused (or, for an
    error answer whose message is all we want, cut at `limit`)."""
    declared = answer.headers.get("Content-Length", "")
    if not truncate and declared.strip().isdigit() and int(declared) > limit:
        raise KubeUnavailable(what, f"HTTP {answer.status_code} with a body of {int(declared)} bytes, more than the {limit} allowed")
    body = bytearray()
    for chunk in answer.iter_content(_CHUNK):
        body.extend(chunk)
        if len(body) > limit:
            if truncate:
                return bytes(body[:limit])
            raise KubeUnavailable(what, f"HTTP {answer.status_code} with a body of more than the {limit} bytes allowed")
        if deadline.expired():
            raise TimeoutError("deadline")  # reported as no complete answer
    if deadline.expired():
        raise TimeoutError("deadline")
    return bytes(body)


def _refused(exc: BaseException) -> bool:
    """Whether the connection was never made (refused, unreachable, no such host)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (ConnectionRefusedError, socket.gaierror, urllib3.exceptions.NewConnectionError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _transport_cause(exc: BaseException) -> str:
    """One line for what broke under HTTP: 'connection reset', 'body ended after 120 bytes, 120 bytes short of its Content-Length'."""
    seen: BaseException | None = exc
    innermost = exc
    while seen is not None:
        if isinstance(seen, ConnectionResetError):
            return "connection reset"
        if isinstance(seen, urllib3.exceptions.InvalidChunkLength):  # before IncompleteRead: it is one
            return "broken chunked encoding"
        if isinstance(seen, urllib3.exceptions.IncompleteRead):
            return f"body ended after {seen.partial} bytes, {seen.expected} bytes short of its Content-Length"
        if isinstance(seen, http.client.IncompleteRead):
            return "body ended before its Content-Length or its last chunk"
        if isinstance(seen, (requests.exceptions.ContentDecodingError, urllib3.exceptions.DecodeError)):
            return "a body that does not decode as its Content-Encoding says"
        innermost = seen
        seen = seen.__cause__ or seen.__context__
    text = " ".join(str(innermost).split())[:200]
    return f"{type(innermost).__name__}: {text}" if text else type(innermost).__name__


def _dry(dry_run: bool) -> str:
    return "?dryRun=All" if dry_run else ""


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks to wait: delay-seconds, or an HTTP-date from now.

    Anything else (negative, NaN, a word) is ignored as
    RFC 9110 lets a recipient ignore an invalid field: None, the default pause applies. A value
    past MAX_RETRY_AFTER_SECONDS is returned as is: the caller gives up at once instead of waiting.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
        return min(max(seconds, 0.0), _NEVER)
    if math.isnan(seconds) or seconds < 0:
        return None
    return min(seconds, _NEVER)


__all__ = ["KubeClient", "KubeError"]
