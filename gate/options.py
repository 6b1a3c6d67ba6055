"""The options every command shares, parsed into plain settings before any I/O.

A value that cannot mean anything raises `InvalidValue` naming it; the CLI prints that as one
line and exits 2, so nothing is half-done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from gate import policy
from gate import settings as gate_settings
from gate.kube import config as kube_config
from gate.kube.client import KubeClient
from gate.kube.errors import KubeError
from gate.locate import Locator
from gate.sources import Card, DeviceSource, Source, SourceConfig, make_device_source, make_source, service_of
from gate.sources import demand as demand_source
from gate.sources.demand import DemandConfig
from gate.units import InvalidValue, parse_instant

C = TypeVar("C", bound=StrEnum)


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
    output: gate_settings.Format
    log_format: str
    now: datetime | None
    debug: bool
    cluster: kube_config.ClusterConfig | None = None  # loaded for the commands that use the API
    resolved: gate_settings.Resolved | None = None  # every setting's value and where it came from
    parsed: Mapping[str, Any] = field(default_factory=dict)  # the settings, parsed, by key
    watch: ConfigWatch | None = None  # the --config file, for the loops to re-read

    def clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    def source(self) -> Source:
        return make_source(self.source_name, self._on_the_node(self.source_config))

    def demand_probe(self) -> Callable[[], policy.Demand] | None:
        return demand_source.DemandProbe(self.demand_config) if self.demand_config is not None else None

    def device_source(self) -> DeviceSource | None:
        if self.device_source_name is None or self.device_source_config is None:
            return None
        return make_device_source(self.device_source_name, self._on_the_node(self.device_source_config))

    def _on_the_node(self, config: SourceConfig) -> SourceConfig:
        """With the card's node set, an exporter behind a Service is read at its pod on that node
        (gate.locate); a Prometheus base URL or an exporter's own address is read as given."""
        if config.card.node is None or self.cluster is None or service_of(config.url) is None:
            return config
        client = KubeClient(self.cluster, timeout_seconds=self.timeout_seconds, attempts=1)
        return replace(config, locate=Locator(client, config.url, config.card.node))

    def kube(self) -> KubeClient:
        assert self.cluster is not None, "the command was declared without the cluster options"
        return KubeClient(self.cluster, timeout_seconds=self.timeout_seconds)


def choice(value: str, allowed: type[C], what: str) -> C:
    """`value` as a member of the enum `allowed`, or InvalidValue naming it and the choices."""
    if value not in tuple(allowed):
        raise InvalidValue(f"invalid {what} {value!r}: expected one of {', '.join(allowed)}")
    return allowed(value)


def parse_options(raw: dict[str, Any], resolved: gate_settings.Resolved, needs_total: bool) -> tuple[Options, str | None]:
    """Parse the shared options and the resolved settings; returns them and the namespace given
    (None: ask the cluster)."""
    parsed = gate_settings.parse(resolved.values, resolved.origins, resolved.path, needs_total).values
    timeout = parsed["timeout"]
    settings = gate_settings.policy_settings(parsed, raw["namespace"] or "", raw["deployment"])
    card = Card(parsed["card.node"], parsed["card.device"])
    options = Options(
        settings=settings,
        source_name=parsed["source"],
        source_config=SourceConfig(
            url=parsed["metricsUrl"],
            timeout_seconds=timeout,
            query=parsed["prometheus.query"],
            up_query=parsed["prometheus.upQuery"],
            sampled_query=parsed["prometheus.sampledQuery"],
            node_label=parsed["prometheus.nodeLabel"],
            card=card,
        ),
        device_source_name=parsed["device.source"],
        device_source_config=SourceConfig(url=parsed["device.url"], timeout_seconds=timeout, card=card)
        if parsed["device.source"]
        else None,
        demand_config=DemandConfig(parsed["demand.url"], parsed["demand.field"], timeout) if parsed["demand.url"] else None,
        timeout_seconds=timeout,
        kubeconfig=raw["kubeconfig"],
        context=raw["context"],
        dry_run=raw["dry_run"],
        output=choice(raw["output"], gate_settings.Format, "output format"),
        log_format=parsed["logFormat"],
        now=parse_instant(raw["now"]) if raw["now"] else None,
        debug=raw["debug"],
        resolved=resolved,
        parsed=parsed,
    )
    return options, raw["namespace"]


@dataclass(frozen=True)
class Reload:
    """What re-reading the settings file found: new options, or why the file was refused."""

    hash: str
    options: Options | None = None
    problem: str | None = None


class ConfigWatch:
    """The --config file as the loops re-read it: through its path each time (a mounted
    ConfigMap changes by an atomic swap of its `..data` link, never in place), compared by the
    hash of its content. A changed file that passes `settings.load` gives new options, built the
    same way as at start (flags and variables still on top); one that does not is refused once,
    and the last good settings stay."""

    def __init__(self, document: gate_settings.Document, build: Callable[[gate_settings.Document], Options]):
        assert document.path is not None
        self.path = document.path
        self.build = build
        self.applied = document.hash or ""  # the settings in use
        self.seen = self.applied  # the file as last read
        self.valid = True

    def poll(self) -> Reload | None:
        """None while the file is unchanged; else what it now says."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            text, problem = None, f"cannot read the settings file {self.path!r}: {exc.strerror}"
        except ValueError:  # not UTF-8
            text, problem = None, f"cannot read the settings file {self.path!r}: not UTF-8 text"
        digest = gate_settings.content_hash(text) if text is not None else "unreadable"
        if digest == self.seen:
            return None
        self.seen = digest
        try:
            if text is None:
                raise InvalidValue(problem)
            options = self.build(gate_settings.load_text(text, self.path))
        except (InvalidValue, KubeError) as exc:
            self.valid = False
            return Reload(digest, problem=f"{exc}; keeping the settings in use (hash {self.applied})")
        except Exception as exc:  # a surprise in a reload never stops the loop: the file is refused
            self.valid = False
            detail = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            return Reload(digest, problem=f"{detail}; keeping the settings in use (hash {self.applied})")
        self.applied, self.valid = digest, True
        return Reload(digest, options=replace(options, watch=self))


def with_cluster(options: Options, given_namespace: str | None) -> Options:
    """Load the cluster configuration; the namespace is the one given, else the pod's own
    (in-cluster), else the kubeconfig context's, else `default`."""
    cluster = kube_config.load(options.kubeconfig, options.context)
    namespace = given_namespace or cluster.namespace or "default"
    return replace(options, cluster=cluster, settings=replace(options.settings, namespace=namespace))
