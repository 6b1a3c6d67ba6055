"""Metric sources: one module per exporter, one interface, one registry.

A source reads one exporter (or a Prometheus server) and returns a `policy.Reading`, or raises
`SourceError` with a one-line reason; the caller turns that into `policy.Blind`. Each module
keeps parsing (`parse`, pure, over the text it would fetch) apart from fetching (`read`).
Beside them, `control`: the server's own control port (park, unpark, state), over the same
bounded HTTP (`scrape.exchange`); not an exporter, so not in `EXPORTERS`.

A gate watches one card, (node, device) (`Card`): every source keeps only the series of that
card, by the labels its exporter writes (`gate.sources.card`), and an exporter whose answers
name no node is read on that node, through its pod there (`SourceConfig.locate`).

`EXPORTERS` is the one list of the sources: the settings' choices, the device-level ones, which
report a total, which name a node or a GPU, and the old names still accepted all come from it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Protocol
from urllib.parse import urlsplit

from gate.policy import DeviceReading, PodUsage, Reading

UNKNOWN = "unknown"


class SourceError(Exception):
    """The metrics could not be read or cannot be trusted; the message is one line."""


@dataclass(frozen=True)
class Exporter:
    """A source as its users know it, and what its answers can say."""

    name: str  # as the settings write it
    module: str  # gate.sources.<module>
    project: str  # where the exporter comes from
    install: str  # how it is usually installed
    per_pod: bool  # attributes memory to pods (else device-level: nothing is anyone's)
    provides_total: bool  # reports the card's total memory
    labels_node: bool  # its series name the node they were taken on
    labels_device: bool  # its series name the GPU (UUID or index)
    aliases: tuple[str, ...] = ()  # older names, accepted with a deprecation line
    scraped: bool = True  # an exporter's own /metrics (else a Prometheus server's API)


EXPORTERS: tuple[Exporter, ...] = (
    Exporter(
        "gpu-pod-exporter",
        "gpu_pod_exporter",
        "the owner's gpu-pod-exporter (ViktorBarzin/infra, stacks/nvidia): a DaemonSet running nvidia-smi",
        "kubectl apply (its Terraform module); Service gpu-pod-exporter.nvidia, port 80",
        per_pod=True,
        provides_total=False,
        labels_node=False,
        labels_device=False,
    ),
    Exporter(
        "dcgm",
        "dcgm",
        "NVIDIA/dcgm-exporter",
        "helm repo add gpu-helm-charts https://nvidia.github.io/dcgm-exporter/helm-charts && "
        "helm install dcgm-exporter gpu-helm-charts/dcgm-exporter (or the GPU Operator's nvidia-dcgm-exporter)",
        per_pod=False,
        provides_total=True,
        labels_node=True,
        labels_device=True,
    ),
    Exporter(
        "nvidia_gpu_exporter",
        "nvidia_gpu_exporter",
        "utkuozdemir/nvidia_gpu_exporter",
        "helm install nvidia-gpu-exporter oci://ghcr.io/utkuozdemir/charts/nvidia-gpu-exporter",
        per_pod=False,
        provides_total=True,
        labels_node=False,
        labels_device=True,
        aliases=("nvidia-smi",),
    ),
    Exporter(
        "prometheus",
        "prometheus",
        "a Prometheus server that scrapes gpu-pod-exporter (its HTTP API)",
        "the prometheus-community chart's kubernetes-service-endpoints job labels each series with its node",
        per_pod=True,
        provides_total=False,
        labels_node=True,
        labels_device=False,
        scraped=False,
    ),
)
BY_NAME: Mapping[str, Exporter] = {e.name: e for e in EXPORTERS}
ALIASES: Mapping[str, str] = {alias: e.name for e in EXPORTERS for alias in e.aliases}
SOURCE_NAMES = tuple(e.name for e in EXPORTERS)
# Device-level exporters: read alone, or beside a per-pod source as its second opinion.
DEVICE_SOURCE_NAMES = tuple(e.name for e in EXPORTERS if e.scraped and not e.per_pod)


def exporter(name: str) -> Exporter:
    """The registry's entry for `name` (an alias too); ValueError naming the choices."""
    found = BY_NAME.get(ALIASES.get(name, name))
    if found is None:
        raise ValueError(f"unknown source {name!r}: expected one of {', '.join(SOURCE_NAMES)}")
    return found


def deprecation(name: str | None) -> str | None:
    """The one line to log for an old source name, or None."""
    if name not in ALIASES:
        return None
    new = ALIASES[name]
    return f"source {name!r} is deprecated: it is {new} ({BY_NAME[new].project}); write {new}"


@dataclass(frozen=True)
class Card:
    """The card a gate watches: the node the server is pinned to and, on a node with several
    GPUs, the device (its UUID, `GPU-…` as nvidia-smi writes it, or its index). None: not set,
    the single card of a single-GPU cluster."""

    node: str | None = None
    device: str | None = None

    def __str__(self) -> str:
        return f"node {self.node or '(any)'}, device {self.device or '(any)'}"


ANY_CARD = Card()  # no card set: a single-GPU cluster's one card


@dataclass(frozen=True)
class Target:
    """Where one read went: the exporter's pod on the card's node (its address from the Service's
    EndpointSlices), so the answer is that node's whatever the Service would have picked."""

    host: str
    port: int
    node: str
    pod: str = ""


class Locate(Protocol):
    """Finds the exporter's pod on the card's node (gate.locate); forgets it after a failed read."""

    def __call__(self) -> Target: ...

    def forget(self) -> None: ...


_SERVICE_HOST = re.compile(r"^([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.svc(?:\.[a-z0-9.-]+)?$")


def service_of(url: str) -> tuple[str, str, int] | None:
    """(service, namespace, port) when the URL's host names a Service
    (`<service>.<namespace>.svc`, the cluster domain optional); None otherwise."""
    parts = urlsplit(url)
    match = _SERVICE_HOST.match((parts.hostname or "").lower())
    if match is None:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return match.group(1), match.group(2), port


class Source(Protocol):
    name: str  # the registry's (`EXPORTERS`), which says what its answers can say

    def read(self) -> Reading: ...


@dataclass(frozen=True)
class SourceConfig:
    url: str
    timeout_seconds: float = 5.0
    max_bytes: int = 4 * 2**20
    # Prometheus only: the query whose result maps to residents, the exporter's liveness, and
    # the time of its last scrape; the label Prometheus keeps the exporter pod's node in.
    query: str | None = None
    up_query: str | None = None
    sampled_query: str | None = None
    node_label: str = "node"
    card: Card = ANY_CARD
    # The exporter's pod on the card's node (None: read `url` as it is); gate.locate finds it
    # through the API's EndpointSlices.
    locate: Locate | None = None


def by_pod(series: Iterable[tuple[dict[str, str], float]]) -> tuple[tuple[PodUsage, ...], int]:
    """Per-process (or per-pod) bytes summed by namespace and pod; series without both labels,
    or labelled `unknown` (a process the exporter could not map), are unattributed: a resident's."""
    pods: dict[tuple[str, str], int] = defaultdict(int)
    unattributed = 0
    for labels, value in series:
        namespace, pod = labels.get("namespace", ""), labels.get("pod", "")
        if namespace and pod and UNKNOWN not in (namespace, pod):
            pods[(namespace, pod)] += int(value)
        else:
            unattributed += int(value)
    return tuple(PodUsage(ns, pod, used) for (ns, pod), used in sorted(pods.items())), unattributed


def as_reading(device: DeviceReading) -> Reading:
    """A device-level source read alone: all held memory is unattributed, the total is the card's."""
    return Reading(
        pods=(),
        unattributed_bytes=device.unavailable_bytes,
        device_total_bytes=device.total_bytes,
        sampled_at=device.sampled_at,
        attributes=False,
    )


class DeviceSource(Protocol):
    name: str

    def read_device(self) -> DeviceReading: ...


def provides_total(name: str) -> bool:
    return exporter(name).provides_total


def make_source(name: str, config: SourceConfig) -> Source:
    found = exporter(name)
    # Imported here so each module stays a leaf that only needs the shared helpers.
    module: Any = import_module(f"gate.sources.{found.module}")
    return module.Source(config)


def make_device_source(name: str, config: SourceConfig) -> DeviceSource:
    if ALIASES.get(name, name) not in DEVICE_SOURCE_NAMES:
        raise ValueError(f"unknown device source {name!r}: expected one of {', '.join(DEVICE_SOURCE_NAMES)}")
    return make_source(name, config)  # type: ignore[return-value]  # the device modules' Sources have read_device
