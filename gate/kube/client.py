"""The few API calls the gate makes, over requests, with bounded time and bounded retries.

- read the Deployment (desired and ready replicas): GET apps/v1 deployments/NAME
- scale it: PATCH deployments/NAME/scale, application/merge-patch+json, so RBAC can be limited
  to `deployments/scale` on one resourceName
- keep the gate's state in the annotations of a coordination.k8s.io/v1 Lease: GET it, PUT it
  back with the resourceVersion it was read at (a writer that lost the race gets 409), POST it
  when it does not exist yet. Nothing here can change the server's pod template.
- record decisions: POST a core/v1 Event about the Deployment

tests/test_rbac.py derives the Role's verbs from these calls.
"""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime
from typing import Any

import requests

from gate.kube.config import ClusterConfig
from gate.kube.errors import KubeError, KubeUnavailable, error_class

MERGE_PATCH = "application/merge-patch+json"
_LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
# The longest Retry-After the gate honours; past it the call fails and the next run tries again.
MAX_RETRY_AFTER_SECONDS = 5.0
COMPONENT = "tts-gate"


class KubeClient:
    def __init__(self, config: ClusterConfig, timeout_seconds: float = 5.0, attempts: int = 2):
        self.config = config
        self.timeout_seconds = timeout_seconds
        self.attempts = max(1, attempts)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = COMPONENT
        self.session.headers["Accept"] = "application/json"

    # -- the calls ---------------------------------------------------------------------------

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any]:
        return self._call("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", f"get deployment {namespace}/{name}")

    def scale(self, namespace: str, name: str, replicas: int, dry_run: bool = False) -> int:
        """Set desired replicas through the scale subresource; returns what the server now holds.

        `dry_run` asks the API server to authorize and validate without persisting (dryRun=All).
        """
        answer = self._call(
            "PATCH",
            f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale{_dry(dry_run)}",
            f"scale deployment {namespace}/{name} to {replicas}",
            body={"spec": {"replicas": replicas}},
            content_type=MERGE_PATCH,
        )
        return int((answer.get("spec") or {}).get("replicas", 0))

    def get_lease(self, namespace: str, name: str) -> dict[str, Any]:
        return self._call("GET", f"{_LEASES.format(namespace=namespace)}/{name}", f"get lease {namespace}/{name}")

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
        return self._call("POST", f"{_LEASES.format(namespace=namespace)}{_dry(dry_run)}", f"create lease {namespace}/{name}", body=body)

    def update_lease(self, lease: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """PUT the Lease back; its metadata.resourceVersion makes a concurrent change a 409."""
        meta = lease.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        return self._call(
            "PUT", f"{_LEASES.format(namespace=namespace)}/{name}{_dry(dry_run)}", f"update lease {namespace}/{name}", body=lease
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
        self._call("POST", f"/api/v1/namespaces/{namespace}/events{_dry(dry_run)}", f"record event {reason}", body=event)

    # -- transport ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, what: str, body: Any = None, content_type: str = "application/json") -> dict[str, Any]:
        for attempt in range(1, self.attempts + 1):
            try:
                return self._once(method, path, what, body, content_type)
            except KubeUnavailable as exc:
                wait = exc.retry_after if exc.retry_after is not None else 0.5
                if attempt == self.attempts or wait > MAX_RETRY_AFTER_SECONDS:
                    raise
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, method: str, path: str, what: str, body: Any, content_type: str) -> dict[str, Any]:
        headers = {}
        token = self.config.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        try:
            # verify and cert per request: set on the session, REQUESTS_CA_BUNDLE in the environment would win.
            answer = self.session.request(
                method,
                self.config.server + path,
                data=data,
                headers=headers,
                timeout=self.timeout_seconds,
                verify=self.config.verify,
                cert=self.config.client_cert,
            )
        except requests.exceptions.SSLError as exc:
            raise KubeUnavailable(what, f"TLS verification with {self.config.server} failed (wrong CA?)") from exc
        except requests.exceptions.Timeout as exc:
            raise KubeUnavailable(what, f"no answer from {self.config.server} within {self.timeout_seconds:g}s") from exc
        except requests.exceptions.ConnectionError as exc:
            raise KubeUnavailable(what, f"cannot connect to {self.config.server}") from exc
        if 200 <= answer.status_code < 300:
            try:
                return answer.json()
            except ValueError as exc:
                raise KubeUnavailable(what, f"HTTP {answer.status_code} with a body that is not JSON") from exc
        raise error_class(answer.status_code)(
            what,
            f"HTTP {answer.status_code}: {_status_message(answer)}",
            status=answer.status_code,
            retry_after=_retry_after(answer.headers.get("Retry-After")),
        )


def _dry(dry_run: bool) -> str:
    return "?dryRun=All" if dry_run else ""


def _status_message(answer: requests.Response) -> str:
    """The `message` of a metav1.Status body, else the body itself cut to 256 characters."""
    try:
        status = answer.json()
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status" and status.get("message"):
        return str(status["message"])
    text = " ".join(answer.text.split())
    return text[:256] or answer.reason or "no message"


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


__all__ = ["KubeClient", "KubeError"]
