"""The API client's own error tree, one class per way a call can fail.

Messages are one line: what was attempted, the HTTP status, and the API server's own `message`
from its `Status` object (a body that is not a Status is cut to 256 characters). They never
contain credentials.
"""

from __future__ import annotations


class KubeError(Exception):
    """A Kubernetes API call failed."""

    hint = ""

    def __init__(self, what: str, detail: str, status: int | None = None, retry_after: float | None = None):
        self.what = what
        self.detail = " ".join(detail.split())
        self.status = status
        self.retry_after = retry_after
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"kubernetes: {self.what}: {self.detail}"
        return f"{text} ({self.hint})" if self.hint else text


class KubeConfigError(KubeError):
    """No usable configuration: a missing or malformed kubeconfig, an unsupported user."""

    def __init__(self, detail: str):
        super().__init__("configuration", detail)


class KubeUnavailable(KubeError):
    """No answer, a timeout, a connection broken part-way, 429 or 5xx: the API server could not
    serve the call now."""


class KubeBadAnswer(KubeUnavailable):
    """A 2xx answer that is not the object asked for (not JSON, `null`, an array, another kind,
    a Scale without spec): as good as no answer."""


class KubeUnauthorized(KubeError):
    hint = "the credentials were refused: an expired token or a wrong kubeconfig user"


class KubeForbidden(KubeError):
    hint = (
        "RBAC: the gate's Role needs get on the Deployment and patch on its deployments/scale, "
        "get/update on its Lease <deployment>-gate, and create on leases and events"
    )


class KubeNotFound(KubeError):
    hint = "is the chart installed in this namespace, and GATE_NAMESPACE/GATE_DEPLOYMENT right?"


class KubeConflict(KubeError):
    """409: someone else changed the object; nothing was written."""


class KubeRejected(KubeError):
    """400, 415, 422 and other client errors: the API server refused the request as made."""


def error_class(status: int) -> type[KubeError]:
    if status == 401:
        return KubeUnauthorized
    if status == 403:
        return KubeForbidden
    if status == 404:
        return KubeNotFound
    if status == 409:
        return KubeConflict
    if status == 429 or status >= 500:
        return KubeUnavailable
    return KubeRejected
