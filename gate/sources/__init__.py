"""Metric sources: one module per exporter, one interface.

A source reads one exporter (or a Prometheus server) and returns a `policy.Reading`, or raises
`SourceError` with a one-line reason; the caller turns that into `policy.Blind`. Each module
keeps parsing (`parse`, pure, over the text it would fetch) apart from fetching (`read`).
Beside them, `control`: the server's own control port (park, unpark, state), over the same
bounded HTTP (`scrape.exchange`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from gate.policy import DeviceReading, PodUsage, Reading

UNKNOWN = "unknown"


class SourceError(Exception):
    """The metrics could not be read or cannot be trusted; the message is one line."""


class Source(Protocol):
    name: str
    # Whether the source reports the device's total memory (else GATE_TOTAL is required).
    provides_total: bool

    def read(self) -> Reading: ...


@dataclass(frozen=True)
class SourceConfig:
    url: str
    timeout_seconds: float = 5.0
    max_bytes: int = 4 * 2**20
    # Prometheus only: the query whose result maps to residents, the exporter's liveness, and
    # the time of its last scrape.
    query: str | None = None
    up_query: str | None = None
    sampled_query: str | None = None


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


SOURCE_NAMES = ("gpu-pod-exporter", "dcgm", "nvidia-smi", "prometheus")
# Device-level exporters: read alone, or beside a per-pod source as its second opinion.
DEVICE_SOURCE_NAMES = ("dcgm", "nvidia-smi")


class DeviceSource(Protocol):
    name: str

    def read_device(self) -> DeviceReading: ...


def provides_total(name: str) -> bool:
    return make_source(name, SourceConfig(url="http://unused.invalid/")).provides_total


def make_source(name: str, config: SourceConfig) -> Source:
    # Imported here so each module stays a leaf that only needs the shared helpers.
    from gate.sources import dcgm, gpu_pod_exporter, nvidia_smi, prometheus

    modules = {
        "gpu-pod-exporter": gpu_pod_exporter,
        "dcgm": dcgm,
        "nvidia-smi": nvidia_smi,
        "prometheus": prometheus,
    }
    if name not in modules:
        raise ValueError(f"unknown source {name!r}: expected one of {', '.join(SOURCE_NAMES)}")
    return modules[name].Source(config)


def make_device_source(name: str, config: SourceConfig) -> DeviceSource:
    if name not in DEVICE_SOURCE_NAMES:
        raise ValueError(f"unknown device source {name!r}: expected one of {', '.join(DEVICE_SOURCE_NAMES)}")
    return make_source(name, config)  # type: ignore[return-value]  # the device modules' Sources have read_device
