"""An exporter behind a Service, read on the card's node: its pod there, from the Service's
EndpointSlices.

A DaemonSet exporter's Service (gpu-pod-exporter, dcgm-exporter, nvidia_gpu_exporter: one pod per
GPU node) sends each connection to any of its pods, so on a cluster with two GPU nodes a read of
the Service is node A's card one time and node B's the next. With `card.node` set, a metrics URL
that names a Service (`http://<service>.<namespace>.svc[.<cluster domain>]:<port>/<path>`) is read
at the address of that Service's ready endpoint on the node, as its EndpointSlices list it (every
endpoint carries its `nodeName`); the request's Host header and TLS name stay the Service's. The
node that answered is then known by construction, which is how a source whose answers name no
node (gpu-pod-exporter, nvidia_gpu_exporter) is tied to its card.

The address is kept for `CACHE_SECONDS` (a pod's IP comes from its node's pod range, so it cannot
become another node's exporter meanwhile) and dropped after a read that failed, so a replaced
exporter pod is found again at the next read.

RBAC, in the exporter's namespace: `list` on `endpointslices` (discovery.k8s.io), and `get` on
`services` when the Service has several ports (to learn which one the URL's port is).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from gate.kube.client import KubeClient
from gate.kube.errors import KubeError
from gate.sources import SourceError, Target, service_of

CACHE_SECONDS = 60.0


def pick(slices: list[Any], node: str, service: str, namespace: str, port_name: str | None, where: str) -> Target:
    """The ready (not terminating) endpoint on `node` among the Service's EndpointSlices, with the
    slice's port (the one named `port_name` when the Service has several). Pure."""
    found: list[Target] = []
    nodes: set[str] = set()
    for piece in slices:
        if not isinstance(piece, Mapping):
            continue
        ports = [p for p in piece.get("ports") or [] if isinstance(p, Mapping) and isinstance(p.get("port"), int)]
        if port_name is not None:
            ports = [p for p in ports if (p.get("name") or "") == port_name]
        if len(ports) != 1:
            continue
        port = ports[0]["port"]
        for endpoint in piece.get("endpoints") or []:
            if not isinstance(endpoint, Mapping):
                continue
            on = endpoint.get("nodeName")
            if isinstance(on, str):
                nodes.add(on)
            conditions = endpoint.get("conditions") or {}
            addresses = endpoint.get("addresses") or []
            # An unset `ready` is to be read as ready (discovery.k8s.io/v1).
            if on != node or conditions.get("ready") is False or conditions.get("terminating") is True or not addresses:
                continue
            pod = (endpoint.get("targetRef") or {}).get("name") or ""
            found.append(Target(str(addresses[0]), port, node, str(pod)))
    if not found:
        listed = ", ".join(sorted(nodes)) or "no node"
        raise SourceError(
            f"metrics from {where}: Service {namespace}/{service} has no ready endpoint on node {node} "
            f"(its EndpointSlices list {listed}): blind"
        )
    return sorted(found, key=lambda t: (t.pod, t.host))[0]


class Locator:
    """`locate()` -> the Service's endpoint on the node, within one API call (`kube`'s timeout,
    one attempt: the read's deadline holds it); `forget()` after a failed read."""

    def __init__(
        self, kube: KubeClient, url: str, node: str, clock: Callable[[], float] = time.monotonic, cache_seconds: float = CACHE_SECONDS
    ):
        found = service_of(url)
        assert found is not None, "a Locator is made for a URL that names a Service"
        self.service, self.namespace, self.port = found
        self.kube, self.node, self.clock, self.cache_seconds = kube, node, clock, cache_seconds
        self.where = urlsplit(url).netloc
        self._cached: tuple[float, Target] | None = None

    def forget(self) -> None:
        self._cached = None

    def __call__(self) -> Target:
        now = self.clock()
        if self._cached is not None and now - self._cached[0] < self.cache_seconds:
            return self._cached[1]
        try:
            listed = self.kube.list_endpoint_slices(self.namespace, self.service)
            slices = listed.get("items") or []
            port_name = None
            if any(len(s.get("ports") or []) > 1 for s in slices if isinstance(s, Mapping)):
                port_name = self._port_name()
        except KubeError as exc:
            raise SourceError(f"metrics from {self.where}: cannot find its pod on node {self.node}: {exc}") from exc
        target = pick(slices if isinstance(slices, list) else [], self.node, self.service, self.namespace, port_name, self.where)
        self._cached = (now, target)
        return target

    def _port_name(self) -> str:
        service = self.kube.get_service(self.namespace, self.service)
        for port in (service.get("spec") or {}).get("ports") or []:
            if isinstance(port, Mapping) and port.get("port") == self.port:
                return str(port.get("name") or "")
        raise SourceError(f"metrics from {self.where}: Service {self.namespace}/{self.service} has no port {self.port}")
