"""The options every command shares, parsed into plain settings before any I/O.

A value that cannot mean anything raises `InvalidValue` naming it; the CLI prints that as one
line and exits 2, so nothing is half-done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from gate import policy
from gate.kube import config as kube_config
from gate.kube.client import KubeClient
from gate.sources import DEVICE_SOURCE_NAMES, SOURCE_NAMES, DeviceSource, Source, SourceConfig, make_device_source, make_source
from gate.sources import demand as demand_source
from gate.sources.demand import DemandConfig
from gate.units import InvalidValue, parse_duration, parse_floor, parse_instant, parse_size, parse_timezone, parse_window


@dataclass(frozen=True)
class Options:
    """The shared options, parsed: everything a command needs before it touches the network."""

    settings: policy.Settings
    source_name: str
    source_config: SourceConfig
    device_source_name: str | None
    device_source_config: SourceConfig | None
    demand_config: DemandConfig | None
    timeout_seconds: float
    kubeconfig: str | None
    context: str | None
    dry_run: bool
    output: str
    log_format: str
    now: datetime | None
    debug: bool
    cluster: kube_config.ClusterConfig | None = None  # loaded for the commands that use the API

    def clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    def source(self) -> Source:
        return make_source(self.source_name, self.source_config)

    def demand_probe(self) -> Callable[[], policy.Demand] | None:
        return demand_source.DemandProbe(self.demand_config) if self.demand_config is not None else None

    def device_source(self) -> DeviceSource | None:
        if self.device_source_name is None or self.device_source_config is None:
            return None
        return make_device_source(self.device_source_name, self.device_source_config)

    def kube(self) -> KubeClient:
        assert self.cluster is not None, "the command was declared without needs_cluster"
        return KubeClient(self.cluster, timeout_seconds=self.timeout_seconds)


def choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise InvalidValue(f"invalid {what} {value!r}: expected one of {', '.join(allowed)}")
    return value


def parse_options(raw: dict[str, Any], needs_total: bool) -> tuple[Options, str | None]:
    """Parse the shared options; returns them and the namespace given (None: ask the cluster)."""
    tz = parse_timezone(raw["timezone_name"])
    source_name = choice(raw["source"], SOURCE_NAMES, "source")
    device_name = choice(raw["device_source"], DEVICE_SOURCE_NAMES, "device source") if raw["device_source"] else None
    if device_name and source_name in DEVICE_SOURCE_NAMES:
        raise InvalidValue(
            f"--device-source {device_name!r} is a second opinion for a per-pod source; --source {source_name!r} is device-level already"
        )
    if device_name and not raw["device_url"]:
        raise InvalidValue(f"--device-source {device_name!r} needs --device-url (GATE_DEVICE_URL): the exporter's /metrics URL")
    # "device" and "any" say "none" where an empty GATE_* variable cannot: Click ignores empty ones.
    total = parse_size(raw["total"]) if raw["total"] not in (None, "", "device") else None
    provides_total = device_name is not None or make_source(source_name, SourceConfig(url=raw["metrics_url"])).provides_total
    if needs_total and total is None and not provides_total:
        raise InvalidValue(f"source {source_name!r} reports no device total: set GATE_TOTAL (a T4 reports 15360MiB)")
    timeout = parse_duration(raw["timeout"])
    if timeout <= 0:
        raise InvalidValue(f"invalid timeout {raw['timeout']!r}: expected a positive duration")
    startup_grace = parse_duration(raw["startup_grace"])
    demand = None
    if raw["demand_url"]:
        if not raw["demand_url"].startswith(("http://", "https://")):
            raise InvalidValue(f"invalid demand URL {raw['demand_url']!r}: expected http:// or https://")
        if not raw["demand_field"]:
            raise InvalidValue("invalid demand field '': expected the name of the count in the queue's JSON answer")
        idle_after = parse_duration(raw["demand_idle_after"])
        if idle_after <= 0:
            raise InvalidValue(f"invalid demand idle-after {raw['demand_idle_after']!r}: expected a positive duration")
        demand = policy.DemandSettings(
            idle_after_seconds=idle_after, window=parse_window(raw["demand_window"], tz) if raw["demand_window"] else None
        )
    settings = policy.Settings(
        namespace=raw["namespace"] or "",
        deployment=raw["deployment"],
        floor_bytes=parse_floor(raw["floor"], total),
        total_bytes=total,
        window=parse_window(raw["window"], tz) if raw["window"] not in (None, "", "any") else None,
        stable_seconds=parse_duration(raw["cooldown"]),
        cooldown_max_seconds=parse_duration(raw["cooldown_max"]),
        hysteresis_bytes=parse_size(raw["hysteresis"]),
        max_age_seconds=parse_duration(raw["max_age"]),
        empty_is_idle=raw["empty_is_idle"],
        startup_grace_seconds=startup_grace,
        own_peak_bytes=parse_size(raw["own_peak"]),
        entry_margin_seconds=parse_duration(raw["entry_margin"]),
        demand=demand,
    )
    options = Options(
        settings=settings,
        source_name=source_name,
        source_config=SourceConfig(
            url=raw["metrics_url"],
            timeout_seconds=timeout,
            query=raw["prometheus_query"],
            up_query=raw["prometheus_up_query"],
            sampled_query=raw["prometheus_sampled_query"],
        ),
        device_source_name=device_name,
        device_source_config=SourceConfig(url=raw["device_url"], timeout_seconds=timeout) if device_name else None,
        demand_config=DemandConfig(raw["demand_url"], raw["demand_field"], timeout) if demand else None,
        timeout_seconds=timeout,
        kubeconfig=raw["kubeconfig"],
        context=raw["context"],
        dry_run=raw["dry_run"],
        output=choice(raw["output"], ("text", "json"), "output format"),
        log_format=choice(raw["log_format"], ("text", "json"), "log format"),
        now=parse_instant(raw["now"]) if raw["now"] else None,
        debug=raw["debug"],
    )
    return options, raw["namespace"]


def with_cluster(options: Options, given_namespace: str | None) -> Options:
    """Load the cluster configuration; the namespace is the one given, else the pod's own
    (in-cluster), else the kubeconfig context's, else `default`."""
    cluster = kube_config.load(options.kubeconfig, options.context)
    namespace = given_namespace or cluster.namespace or "default"
    return replace(options, cluster=cluster, settings=replace(options.settings, namespace=namespace))
