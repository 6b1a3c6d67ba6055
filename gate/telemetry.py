"""What the long-running gate (`gate run`, the controller; `guard --watch`, the sidecar) serves on
its metrics port: the card as the gate sees it, its decisions, and when its loop last succeeded."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from gate.cycle import Outcome, parked_after
from gate.policy import OVER_BUDGET_YIELDS, PARK_FAILURES, Reason, Settings, over_budget_tonight, paused_by

# A park or an unpark as the server timed it: seconds on a GPU (pinned copies ~0.5 s for the
# model), more when pageable or the card is busy; park.timeout (15 s) fails it.
PARK_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 8, 12, 15, 20, 30, 60)


class Labelled(Collector):
    """Every family of `inner`, each sample with `labels` added."""

    def __init__(self, inner: CollectorRegistry, labels: Mapping[str, str]):
        self.inner, self.labels = inner, dict(labels)

    def collect(self) -> Iterator[Metric]:
        for family in self.inner.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [sample._replace(labels={**sample.labels, **self.labels}) for sample in family.samples]
            yield labelled


class Families:
    """Defines metric families in one registry: a name, its help text and its label names."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def histogram(self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]) -> Histogram:
        return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)


class WatchMetrics:
    """`registry` is what the metrics port serves. With `deployment`, every series carries
    `deployment="<name>"`, the Deployment the gate scales: several gates in one namespace (cards,
    releases) stay apart in the alerts and the dashboard, and a gate's controller and sidecar
    (one gate, two processes) share it."""

    def __init__(self, registry: CollectorRegistry | None = None, deployment: str | None = None):
        r = registry or CollectorRegistry()
        self.registry = r
        if deployment is not None:
            self.registry = CollectorRegistry(auto_describe=False)
            self.registry.register(Labelled(r, {"deployment": deployment}))
        family = Families(r)
        self._define_card(family)
        self._define_last_run(family)
        self._define_counts(family)
        self._define_settings(family)
        self._define_parking(family)
        self._parked_since: float | None = None  # when this loop last saw the server parked

    def _define_card(self, family: Families) -> None:
        """The card as the last observation saw it, and the floor it was held to."""
        self.resident_bytes = family.gauge("gate_resident_bytes", "GPU memory used by resident tenants (not the TTS pod).")
        self.own_bytes = family.gauge("gate_own_bytes", "GPU memory used by the TTS Deployment's own pods.")
        self.free_bytes = family.gauge("gate_free_bytes", "Total minus residents: what the card offers the TTS pod.")
        self.floor_bytes = family.gauge("gate_floor_bytes", "Free memory the gate requires to hold the card.")
        self.total_bytes = family.gauge("gate_total_bytes", "The card's total memory as the gate uses it.")

    def _define_last_run(self, family: Families) -> None:
        """What the last iteration saw and left: the window, sight, the replicas, the demand."""
        self.in_window = family.gauge("gate_in_window", "1 when the last run fell inside the window, or a try (gate try) held it open.")
        self.try_until = family.gauge(
            "gate_try_until_timestamp_seconds",
            "When the try in force (gate try) ends, as a Unix time; 0 with none. The window counts as open until then.",
        )
        self.blind = family.gauge("gate_blind", "1 when the last observation could not be read or trusted.")
        self.replicas = family.gauge("gate_replicas", "Desired replicas of the TTS Deployment after the last run.")
        self.last_run = family.gauge("gate_last_run_timestamp_seconds", "When the loop last completed an iteration: read, decided, acted.")
        self.demand_queued = family.gauge(
            "gate_demand_queued", "Work waiting as the demand probe last read it; NaN when the probe failed (no action)."
        )
        self.over_budget_yields = family.gauge(
            "gate_over_budget_yields",
            "Yields tonight because the server's own memory outgrew the floor (the gate's state); at 2 it stays off the card.",
        )

    def _define_counts(self, family: Families) -> None:
        """Counted over the process's life: decisions, and what went wrong."""
        self.scrape_failures = family.counter("gate_scrape_failures", "Observations that left the gate blind.")
        self.decisions = family.counter("gate_decisions", "Decisions by command and reason.", ["command", "reason"])
        self.api_errors = family.counter("gate_api_errors", "Kubernetes API calls that failed, by error kind.", ["kind"])
        self.iteration_errors = family.counter(
            "gate_iteration_errors", "Iterations that failed in an unexpected way (read as blind), by exception.", ["kind"]
        )

    def _define_settings(self, family: Families) -> None:
        """The settings in use, and whether they pause the gate."""
        self.config_valid = family.gauge(
            "gate_config_valid",
            "1 when the settings file, as last read, passed validation; 0 when it was refused (the last good settings stay).",
        )
        self.config_info = family.gauge(
            "gate_config_info", "The settings in use: the hash of the file they came from ('' without --config).", ["hash"]
        )
        self.paused = family.gauge("gate_paused", "1 while the gate is paused (enabled: false, or gate pause on the Lease).")

    def _define_parking(self, family: Families) -> None:
        """The card given back outside the decisions (the watchdog), and parking: its state, its calls, its failures."""
        self.watchdog_yields = family.counter(
            "gate_watchdog_yields", "Times the card was given back outside the loop's decisions: a stalled or failed iteration."
        )
        self.parked = family.gauge("gate_parked", "1 while the server is parked (its model in host memory, a residue on the card).")
        self.parked_seconds = family.counter("gate_parked_seconds", "Seconds this loop saw the server parked (summed over its iterations).")
        self.parks = family.counter("gate_parks", "Parks this loop asked that the server carried out.")
        self.unparks = family.counter("gate_unparks", "Unparks this loop asked that the server carried out.")
        self.park_failures = family.counter(
            "gate_park_failures",
            "Parks and unparks that failed (refused, failed, past park.timeout, unreachable, a residue past its setting) and "
            "parked servers whose state was lost (op=state): each scaled the server to 0.",
            ["op"],
        )
        self.park_duration = family.histogram(
            "gate_park_duration_seconds", "Parks and unparks as the server timed them.", ["op"], buckets=PARK_BUCKETS
        )
        self.park_failures_tonight = family.gauge(
            "gate_park_failures_tonight",
            "Failed parks and unparks tonight, as the gate's state counts them (any mechanism's); the window's end clears it.",
        )

    def record_config(self, applied_hash: str | None, valid: bool) -> None:
        self.config_valid.set(1 if valid else 0)
        self.config_info.clear()
        self.config_info.labels(applied_hash or "").set(1)

    def record(self, outcome: Outcome, settings: Settings, finished_at: float) -> None:
        self.floor_bytes.set(settings.floor_bytes)
        self.paused.set(1 if paused_by(outcome.state, settings) else 0)
        self.decisions.labels(outcome.decision.command, outcome.decision.reason.value).inc()
        if outcome.demand is not None:
            self.demand_queued.set(float("nan") if outcome.demand.queued is None else outcome.demand.queued)
        if outcome.replicas_after is not None:
            self.replicas.set(outcome.replicas_after)
        self.last_run.set(finished_at)
        self.over_budget_yields.set(over_budget_after(outcome))
        self._record_parking(outcome, finished_at)
        view = outcome.view
        if view is None:
            return
        self.in_window.set(1 if view.in_window else 0)
        self.try_until.set(view.try_until.timestamp() if view.try_until is not None else 0)
        self.blind.set(1 if view.blind else 0)
        if view.blind:
            self.scrape_failures.inc()
            return
        self.resident_bytes.set(view.resident_bytes)
        self.own_bytes.set(view.own_bytes)
        if view.total_bytes is not None:
            self.total_bytes.set(view.total_bytes)
        if view.free_bytes is not None:
            self.free_bytes.set(view.free_bytes)

    def _record_parking(self, outcome: Outcome, finished_at: float) -> None:
        call, reason = outcome.park_call, outcome.decision.reason
        if call is not None and call.problem is None and call.seconds is not None and not call.already:
            self.park_duration.labels(call.op).observe(call.seconds)
            (self.parks if call.op == "park" else self.unparks).inc()
        if reason in (Reason.PARK_FAILED, Reason.RESIDUE):
            self.park_failures.labels(call.op if call is not None else "state").inc()
        if self._parked_since is not None:
            self.parked_seconds.inc(max(0.0, finished_at - self._parked_since))
        parked = parked_after(outcome)
        self.parked.set(1 if parked else 0)
        self._parked_since = finished_at if parked else None
        self.park_failures_tonight.set(park_failures_after(outcome))

    def record_api_error(self, kind: str) -> None:
        self.api_errors.labels(kind).inc()

    def record_iteration_error(self, kind: str) -> None:
        self.iteration_errors.labels(kind).inc()


def over_budget_after(outcome: Outcome) -> int:
    """Tonight's over-budget yields once the run's decision is written: what the alert reads. The
    gauge lives in the controller too, so a yield the sidecar made (its pod then goes) still shows."""
    return _count_after(outcome, OVER_BUDGET_YIELDS, over_budget_tonight(outcome.state, outcome.now))


def park_failures_after(outcome: Outcome) -> int:
    """Tonight's failed parks and unparks once the run's decision is written: the alert reads it
    from the controller, which outlives a server pod (and its sidecar) that a failure scaled to 0."""
    return _count_after(outcome, PARK_FAILURES, outcome.state.park_failures)


def _count_after(outcome: Outcome, annotation: str, before: int) -> int:
    """A count the decision may rewrite: its new value when it writes one (unset or unreadable
    reads 0), else the count `before` the run."""
    changes = outcome.decision.annotations
    if annotation in changes:
        text = changes[annotation]
        return int(text) if text is not None and text.isdigit() else 0
    return before
