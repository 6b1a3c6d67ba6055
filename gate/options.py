"""The options every command shares, obtained in one direction: the command line's (`Request`,
its settings parsed once) -> who and where (the namespace, the Deployment, the API) -> the
settings document -> `Options`. The loops obtain them again from the same request when the
document changes (`ConfigWatch`): nothing here calls back into the command line.

Who and where never come from the document, so a document that is refused (unreadable, cut
short, not the gate's, a bad value, a key this gate does not know) still leaves everything a
give-back needs: the options are then blind (`refused`): their source reads nothing, and the
settings are the defaults under the command line's. A value of the command line's own that
cannot mean anything raises `InvalidValue` naming its flag or variable; the CLI prints that as
one line and exits 2 before any I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from gate import policy
from gate import settings as gate_settings
from gate.kube import config as kube_config
from gate.kube.client import KubeClient
from gate.locate import Locator
from gate.policy import Reading
from gate.sources import Card, DeviceSource, Source, SourceConfig, SourceError, make_device_source, make_source, service_of
from gate.sources import demand as demand_source
from gate.sources.demand import DemandConfig
from gate.units import InvalidValue, parse_instant

C = TypeVar("C", bound=StrEnum)


def choice(value: str, allowed: type[C], what: str) -> C:
    """`value` as a member of the enum `allowed`, or InvalidValue naming it and the choices."""
    if value not in tuple(allowed):
        raise InvalidValue(f"invalid {what} {value!r}: expected one of {', '.join(allowed)}")
    return allowed(value)


@dataclass(frozen=True)
class Request:
    """What the command line gave, parsed: who and where, how, and its settings (a flag's or a
    variable's, each parsed once)."""

    namespace: str | None
    deployment: str
    config: str | None
    kubeconfig: str | None
    context: str | None
    dry_run: bool
    output: gate_settings.Format
    now: datetime | None
    debug: bool
    given: gate_settings.Given = field(default_factory=gate_settings.Given)
    needs_total: bool = True


# The shared options a request carries as the command line gave them (the others are parsed).
_AS_GIVEN = ("namespace", "deployment", "config", "kubeconfig", "context", "dry_run", "debug")


def request(raw: Mapping[str, Any], given: Mapping[str, tuple[Any, gate_settings.Origin]], needs_total: bool = True) -> Request:
    """The command line's shared options (`raw`, by parameter) and its settings (`given`, by key,
    with their origin), parsed; InvalidValue naming each bad one."""
    return Request(
        **{name: raw[name] for name in _AS_GIVEN},
        output=choice(raw["output"], gate_settings.Format, "output format"),
        now=parse_instant(raw["now"]) if raw["now"] else None,
        given=gate_settings.parse_values(given),
        needs_total=needs_total,
    )


@dataclass(frozen=True)
class Refused:
    """The source of options whose settings file was refused: every read is blind."""

    reason: str
    name: str = "settings"
    provides_total: bool = False

    def read(self) -> Reading:
        raise SourceError(self.reason)


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
    settled: gate_settings.Settled | None = None  # every setting's meaning, as written, and where from
    parsed: Mapping[str, Any] = field(default_factory=dict)  # the settings' meanings, by key
    watch: ConfigWatch | None = None  # the --config file, for the loops to re-read
    # Why the settings file was refused (one line): the options are blind, on the defaults.
    refused: str | None = None

    def clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    def source(self) -> Source:
        if self.refused is not None:
            return Refused(f"the settings file was refused: {gate_settings.meaning.clip(self.refused, 200)}")
        return make_source(self.source_name, self._on_the_node(self.source_config))

    def demand_probe(self) -> Callable[[], policy.Demand] | None:
        if self.refused is not None or self.demand_config is None:
            return None
        return demand_source.DemandProbe(self.demand_config)

    def device_source(self) -> DeviceSource | None:
        if self.refused is not None or self.device_source_name is None or self.device_source_config is None:
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


def build(
    req: Request,
    document: gate_settings.Document | None,
    cluster: kube_config.ClusterConfig | None = None,
    refused: str | None = None,
) -> Options:
    """Options from the request and the document (None: none, or refused), the command line's
    settings over the document's over the defaults."""
    layers = [document.given] if document is not None else []
    settled = gate_settings.settle(*layers, req.given, path=document.path if document else None, needs_total=req.needs_total)
    parsed = settled.values
    timeout = parsed["timeout"]
    namespace = req.namespace or (cluster.namespace if cluster is not None else None) or ("default" if cluster is not None else "")
    card = Card(parsed["card.node"], parsed["card.device"])
    return Options(
        settings=gate_settings.policy_settings(parsed, namespace, req.deployment),
        source_name=parsed["source"],
        source_config=_metrics_source(parsed, timeout, card),
        device_source_name=parsed["device.source"],
        device_source_config=SourceConfig(url=parsed["device.url"], timeout_seconds=timeout, card=card)
        if parsed["device.source"]
        else None,
        demand_config=DemandConfig(parsed["demand.url"], parsed["demand.field"], timeout) if parsed["demand.url"] else None,
        timeout_seconds=timeout,
        kubeconfig=req.kubeconfig,
        context=req.context,
        dry_run=req.dry_run,
        output=req.output,
        log_format=parsed["logFormat"],
        now=req.now,
        debug=req.debug,
        cluster=cluster,
        settled=settled,
        parsed=parsed,
        refused=refused,
    )


def _metrics_source(parsed: Mapping[str, Any], timeout: float, card: Card) -> SourceConfig:
    """The metrics source's config: its URL, the card it reads and, for Prometheus, its queries."""
    return SourceConfig(
        url=parsed["metricsUrl"],
        timeout_seconds=timeout,
        query=parsed["prometheus.query"],
        up_query=parsed["prometheus.upQuery"],
        sampled_query=parsed["prometheus.sampledQuery"],
        node_label=parsed["prometheus.nodeLabel"],
        card=card,
    )


def obtain(req: Request, cluster_needed: bool = True) -> Options:
    """The options of a command: who and where first (the kubeconfig, or the pod's service
    account and namespace), then the document. A refused document does not stop here: the
    options come back blind (`refused`) for the command to give the card back or refuse."""
    cluster = kube_config.load(req.kubeconfig, req.context) if cluster_needed else None
    document, refused = None, None
    if req.config:
        try:
            document = gate_settings.load(req.config)
        except InvalidValue as exc:
            refused = str(exc)
    options = build(req, document, cluster, refused)
    if req.config and req.config != "-":
        options = replace(options, watch=ConfigWatch(req, cluster, document))
    return options


@dataclass(frozen=True)
class Reload:
    """What re-reading the settings file found: new options, or why the file was refused."""

    hash: str
    options: Options | None = None
    problem: str | None = None


class ConfigWatch:
    """The --config file as the loops re-read it: through its path each time (a mounted
    ConfigMap changes by an atomic swap of its `..data` link, never in place), at most 1 MiB,
    compared by the hash of its bytes. A changed file that passes `settings.load` gives new
    options, obtained as at start from the same request (flags and variables still on top); one
    that does not is refused once, and the settings in use stay (blind ones, if the file was
    refused from the start: then the first poll reads it again, to report it). `poll` never
    raises: whatever happens in a reload is a refusal."""

    def __init__(self, req: Request, cluster: kube_config.ClusterConfig | None, document: gate_settings.Document | None):
        assert req.config is not None
        self.request = req
        self.cluster = cluster
        self.path = req.config
        self.applied = document.hash if document is not None else None  # the settings in use
        self.seen = self.applied  # the file as last read
        self.valid = document is not None

    def poll(self) -> Reload | None:
        """None while the file is unchanged; else what it now says."""
        try:
            return self._poll()
        except Exception as exc:  # a surprise in a reload never stops the loop: the file is refused
            self.valid = False
            return Reload(
                self.seen or "unreadable", problem=self._keeping(f"{type(exc).__name__}: {gate_settings.meaning.clip(str(exc), 200)}")
            )

    def _poll(self) -> Reload | None:
        try:
            data = gate_settings.read_bytes(self.path)
        except InvalidValue as exc:
            data, problem = None, str(exc)
        digest = hashlib.sha256(data).hexdigest()[:16] if data is not None else "unreadable"
        if digest == self.seen:
            return None
        self.seen = digest
        try:
            if data is None:
                raise InvalidValue(problem)
            document = gate_settings.load_text(gate_settings.decode(data, self.path), self.path)
            options = build(self.request, document, self.cluster)
        except InvalidValue as exc:
            self.valid = False
            return Reload(digest, problem=self._keeping(str(exc)))
        self.applied, self.valid = digest, True
        return Reload(digest, options=replace(options, watch=self))

    def _keeping(self, problem: str) -> str:
        if self.applied is None:
            return f"{problem}; blind until it is fixed (holding, the card is given back)"
        return f"{problem}; keeping the settings in use (hash {self.applied})"
