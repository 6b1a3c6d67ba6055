"""`gate replay`: nights of recorded resident GPU memory through the real policy, one second at a
time, with a simulated TTS pod. Pure: a trace and a configuration in, actions and accounting out.

The model (the issue that asked for it spells it out; the README repeats it):
- The gate runs as the chart deploys it: the controller (`gate run`) ticking every interval at any
  hour, the CronJobs on their schedules in the time zone (DST included) and, while the TTS pod
  runs, the sidecar `guard --watch` every interval. Each can be switched off, so the chart's
  earlier shapes replay too (CronJobs only; a re-entry CronJob every minute and the sidecar). A
  command at t sees the trace's latest snapshot at or before t (none within the sampling step:
  the scrape failed) plus the simulated pod's own usage. Every CronJob fire is a Job pod.
- Demand, when a queue trace is given (`timestamp,queued`): the probe at t reads the latest row
  at or before t; every `demand_failure_every`-th probe fails (the owner's failed ~5% of the
  time), which must change nothing.
- The TTS pod, desired at 1 from u and scaled to 0 at v, holds `peak` bytes from u + start until
  v + release and bakes from u + start + load until v. A peak above the floor (less the budget's
  slack) is a server that outgrew its budget: the guard yields `over-budget` once the start-up
  grace has passed, and after the second such yield the gate stays off the card for the night.
- The exporter is modelled as the owner's behaves (`ExporterModel`): the new TTS pod's memory
  reads `unknown` for the label lag after its container starts (its 60 s pod cache plus one
  15 s collection); optional spans in which it answers HELP/TYPE only (a failing nvidia-smi); a
  device-level second opinion beside it, or dcgm alone, which attributes nothing.
- `seed` replays the seed stack's policy (gate/seed.py); `reactive` is the plain baseline the
  benchmark compares with: every 15 s, enter when there is room and yield when there is not, no
  cool-down, no hysteresis, and a perfect exporter (no lag, no faults): the reference.

Accounting per night (the night of a local date D runs from the window's start on D to its start
on D+1): oracle seconds are in-window seconds with room (total - residents >= floor) or, with a
queue trace, seconds with work queued and room at any hour; bake seconds are baking seconds
that are oracle seconds; held-idle seconds are seconds the Deployment wanted the server while
the queue read 0, and empty stretches the times the queue drained to 0 in the night; breach seconds are seconds the pod holds
memory without room; conflict seconds are seconds the pod holds memory while residents + peak
exceed the total. Residents are always the trace's latest snapshot (during an outage, the last
one known). A wake is a resident pod going from idle (under 512 MiB) to active inside the window;
an outage is a gap between scrapes longer than the sampling step that ends inside the window.
"""

from __future__ import annotations

import bisect
import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gate import defaults, policy
from gate import settings as gate_settings
from gate.cron import fire_times, parse_cron
from gate.policy import Blind, Demand, DemandSettings, GateState, PodUsage, Reading, Settings
from gate.seed import SEED_SCHEDULES, seed_decide
from gate.store import MemoryStore, Snapshot, merge
from gate.trace import Trace
from gate.units import InvalidValue, Window, format_instant, parse_duration, parse_instant, parse_size

POLICIES = ("gate", "seed", "reactive")
REACTIVE_INTERVAL_SECONDS = 15
WAKE_THRESHOLD_BYTES = 512 * 2**20
# The simulated pod's name: a ReplicaSet pod of the Deployment, as the exporter would label it.
POD_SUFFIX = "-6b7c9d8f5-h4j7k"


@dataclass(frozen=True)
class PodModel:
    peak_bytes: int
    start_seconds: float = 45
    load_seconds: float = 60
    release_seconds: float = 5


@dataclass(frozen=True)
class Schedules:
    """The chart's CronJobs (None: that CronJob is off), the sidecar and the controller (None:
    not deployed)."""

    window_up: str | None
    reentry: str | None
    guard: str | None
    window_down: str | None
    sidecar_interval_seconds: float | None
    controller_interval_seconds: float | None = None


@dataclass(frozen=True)
class DemandTrace:
    """tripit's queue over the night: (epoch second, queued), sorted."""

    rows: tuple[tuple[int, int], ...]

    def queued(self, t: int) -> int | None:
        index = bisect.bisect_right(self.rows, (t, 2**62))
        return self.rows[index - 1][1] if index else None


@dataclass(frozen=True)
class ExporterModel:
    """How the replayed metrics source sees the card."""

    # gpu-pod-exporter (per pod) or dcgm (device-level alone: nothing is attributed)
    source: str = "gpu-pod-exporter"
    # The new TTS pod's memory reads `unknown` this long after its containers start.
    label_lag_seconds: float = 0
    # Epoch-second spans [start, end) in which the exporter answers HELP/TYPE only.
    empty_spans: tuple[tuple[int, int], ...] = ()
    # A device-level exporter read beside the per-pod one (the gate's --device-source).
    device: bool = False

    def answers_empty(self, t: int) -> bool:
        return any(start <= t < end for start, end in self.empty_spans)


EXPORTER_SOURCES = ("gpu-pod-exporter", "dcgm")


@dataclass(frozen=True)
class ReplayConfig:
    policy: str
    settings: Settings
    schedules: Schedules
    pod: PodModel
    exporter: ExporterModel = ExporterModel()
    demand: DemandTrace | None = None
    demand_failure_every: int = 0  # every N-th probe fails (0: none)
    # Epoch-second spans [start, end) in which the gate is paused from the Lease (`gate pause`).
    paused_spans: tuple[tuple[int, int], ...] = ()
    # The wall clock of the nights' accounting and the CronJobs when there is no window.
    timezone: ZoneInfo | None = None


@dataclass(frozen=True)
class Action:
    time: datetime
    replicas: int
    command: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"time": format_instant(self.time), "replicas": self.replicas, "command": self.command, "reason": self.reason}


@dataclass
class Life:
    """One TTS pod: desired 1 at `up` (epoch seconds), 0 at `down` (None: still desired)."""

    up: int
    down: int | None = None

    def holds(self, t: int, pod: PodModel) -> bool:
        return self.up + pod.start_seconds <= t and (self.down is None or t < self.down + pod.release_seconds)

    def bakes(self, t: int, pod: PodModel) -> bool:
        return self.up + pod.start_seconds + pod.load_seconds <= t and (self.down is None or t < self.down)

    def running(self, t: int, pod: PodModel) -> bool:
        """The containers (the sidecar among them) are up."""
        return self.up + pod.start_seconds <= t and (self.down is None or t < self.down)


@dataclass
class NightSummary:
    night: str
    policy: str
    oracle_seconds: int = 0
    bake_seconds: int = 0
    breach_seconds: int = 0
    conflict_seconds: int = 0
    entries: int = 0
    yields: int = 0
    wakes: int = 0
    outages: int = 0
    held_empty_seconds: int = 0  # the pod held memory while the exporter answered HELP/TYPE only
    job_pods: int = 0  # CronJob fires: each creates a Job and its pod
    held_idle_seconds: int = 0  # the Deployment wanted the server while the queue read 0
    empty_stretches: int = 0  # runs of an empty queue that began in the night
    over_budget: int = 0  # yields because the server outgrew its budget (not counted in `yields`)

    @property
    def utilization(self) -> float:
        return self.bake_seconds / self.oracle_seconds if self.oracle_seconds else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "night": self.night,
            "policy": self.policy,
            "oracle_seconds": self.oracle_seconds,
            "bake_seconds": self.bake_seconds,
            "utilization": round(self.utilization, 4),
            "breach_seconds": self.breach_seconds,
            "conflict_seconds": self.conflict_seconds,
            "entries": self.entries,
            "yields": self.yields,
            "wakes": self.wakes,
            "outages": self.outages,
            "held_empty_seconds": self.held_empty_seconds,
            "job_pods": self.job_pods,
            "held_idle_seconds": self.held_idle_seconds,
            "empty_stretches": self.empty_stretches,
            "over_budget": self.over_budget,
        }


@dataclass
class ReplayResult:
    policy: str
    trace: Trace
    config: ReplayConfig
    actions: list[Action] = field(default_factory=list)
    lives: list[Life] = field(default_factory=list)
    nights: list[NightSummary] = field(default_factory=list)

    def own_bytes(self, t: int) -> int:
        return self.config.pod.peak_bytes if any(life.holds(t, self.config.pod) for life in self.lives) else 0


def _epoch(instant: datetime) -> int:
    return int(instant.timestamp())


def _instant(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def night_of(t: int, window: Window) -> date:
    """Nights run from one window start to the next, on the local clock."""
    local = _instant(t).astimezone(window.tz).replace(tzinfo=None)
    start = datetime.combine(local.date(), window.start)
    return local.date() if local >= start else local.date() - timedelta(days=1)


def accounting_window(config: ReplayConfig) -> Window:
    """The window, or with none (any time) the whole day from local midnight: a night is then a
    local date, and every second is inside."""
    if config.settings.window is not None:
        return config.settings.window
    if config.timezone is None:
        raise InvalidValue("gate replay without a window needs the time zone of its nights (--timezone)")
    return Window(time(0), time(0), config.timezone)


def _cron_commands(config: ReplayConfig, start: datetime, end: datetime) -> dict[int, list[str]]:
    """Second -> the commands the CronJobs run then, in the order one second runs them."""
    window = accounting_window(config)
    if config.policy == "seed":
        jobs = [("down", SEED_SCHEDULES["down"]), ("guard", SEED_SCHEDULES["guard"]), ("preflight", SEED_SCHEDULES["preflight"])]
    elif config.policy == "gate":
        s = config.schedules
        jobs = [("down", s.window_down), ("guard", s.guard), ("preflight", s.window_up), ("preflight", s.reentry)]
    else:
        jobs = []
    commands: dict[int, list[str]] = defaultdict(list)
    for command, schedule in jobs:
        if schedule:
            for instant in fire_times(parse_cron(schedule), window.tz, start, end):
                commands[_epoch(instant)].append(command)
    return commands


class _Simulation:
    def __init__(self, trace: Trace, config: ReplayConfig):
        if config.policy not in POLICIES:
            raise InvalidValue(f"invalid policy {config.policy!r}: expected one of {', '.join(POLICIES)}")
        self.trace = trace
        self.config = config
        self.settings = config.settings
        self.window = accounting_window(config)
        self.result = ReplayResult(config.policy, trace, config)
        self.state = GateState(0)
        # The gate's state, as the live gate's Lease keeps it: written through the same merge.
        self.store = MemoryStore()
        self.probes = 0
        self.last_demand: tuple[int, int] | None = None  # (queued, when): the probe's memory
        self.own_pod = PodUsage(self.settings.namespace, self.settings.deployment + POD_SUFFIX, config.pod.peak_bytes)

    @property
    def life(self) -> Life | None:
        lives = self.result.lives
        return lives[-1] if lives and lives[-1].down is None else None

    def observe(self, t: int) -> Reading | Blind:
        """What a scrape at t returns: the trace's snapshot plus the simulated pod's own memory,
        as the modelled exporter reports them."""
        snapshot = self.trace.fresh(_instant(t))
        if snapshot is None:
            return Blind(f"no scrape within {self.trace.step_seconds:g}s (exporter down)")
        exporter = self.config.exporter
        own_bytes = self.result.own_bytes(t)
        used = sum(p.used_bytes for p in snapshot.pods) + own_bytes
        total = self.settings.total_bytes
        assert total is not None
        if exporter.source == "dcgm":
            return Reading(unattributed_bytes=used, device_total_bytes=total, sampled_at=snapshot.time, attributes=False)
        device = policy.DeviceReading(total_bytes=total, used_bytes=used, sampled_at=snapshot.time) if exporter.device else None
        if exporter.answers_empty(t):
            return Reading(sampled_at=snapshot.time, empty=True, device=device)
        life = self.life
        started = life.up + self.config.pod.start_seconds if life is not None else None
        if own_bytes and started is not None and t < started + exporter.label_lag_seconds:
            # The exporter's pod cache does not know the new container yet: `unknown` labels.
            return Reading(pods=snapshot.pods, unattributed_bytes=own_bytes, sampled_at=snapshot.time, device=device)
        own = (self.own_pod,) if own_bytes else ()
        return Reading(pods=snapshot.pods + own, sampled_at=snapshot.time, device=device)

    def probe(self, t: int) -> Demand | None:
        """What the demand probe reads at t: the queue trace, or a failure every N-th probe."""
        if self.config.demand is None:
            return None
        self.probes += 1
        every = self.config.demand_failure_every
        queued = self.config.demand.queued(t)
        if queued is None or (every and self.probes % every == 0):
            last = self.last_demand
            return Demand(None, "the probe failed", *((last[0], t - last[1]) if last else (None, None)))
        self.last_demand = (queued, t)
        return Demand(queued)

    def run(self, t: int, command: str) -> None:
        now = _instant(t)
        read = self.store.read()
        if self.config.policy == "seed":
            decision = seed_decide(command, self.observe(t), self.state.replicas, self.settings.floor_bytes)
        elif command == "down":  # looks at no metrics and probes no queue
            decision = policy.step(command, None, self.state, self.settings)
        else:
            # The Lease's pause switch, as `gate pause` would have set it (the gate only).
            paused = self.config.policy == "gate" and any(start <= t < end for start, end in self.config.paused_spans)
            state = replace(self.state, paused=paused) if paused else self.state
            view = policy.assess(self.observe(t), self.settings, now, state)
            decision = policy.step(command, view, state, self.settings, self.probe(t))
        self.apply(t, read, decision)

    def apply(self, t: int, read: Snapshot, decision: policy.Decision) -> None:
        # The decision's changes merged into the state the run read, as the live gate writes
        # them (one writer here: nothing to lose a race to), then read back as the live gate
        # reads them. The reactive baseline keeps no memory of yields: it never writes.
        if decision.annotations and self.config.policy != "reactive":
            merge(self.store, read, decision.annotations)
        replicas = self.state.replicas
        if decision.replicas is not None and decision.replicas != replicas:
            replicas = decision.replicas
            if replicas >= 1:
                self.result.lives.append(Life(up=t))
            elif self.life is not None:
                self.life.down = t
            self.result.actions.append(Action(_instant(t), replicas, decision.command, decision.reason.value))
        self.state = GateState.from_annotations(replicas, self.store.read().annotations)

    def commands_at(self, t: int, crons: dict[int, list[str]]) -> list[str]:
        commands = list(crons.get(t, ()))
        controller = self.config.schedules.controller_interval_seconds
        if self.config.policy == "gate" and controller and t % controller == 0:
            commands.append("tick")
        if self.config.policy == "reactive" and t % REACTIVE_INTERVAL_SECONDS == 0:
            commands.append("guard" if self.state.replicas else "preflight")
        interval = self.config.schedules.sidecar_interval_seconds
        life = self.life
        running = self.config.policy == "gate" and interval and life is not None and life.running(t, self.config.pod)
        if running and (t - life.up - self.config.pod.start_seconds) % interval == 0:  # type: ignore[union-attr]
            commands.insert(0, "guard")  # the sidecar acts before the CronJobs of the same second
        return commands

    def simulate(self) -> ReplayResult:
        trace, pod, settings = self.trace, self.config.pod, self.settings
        window = self.window
        assert settings.total_bytes is not None
        start = _epoch(trace.start)
        end = _epoch(trace.end) + int(trace.step_seconds)
        crons = _cron_commands(self.config, _instant(start), _instant(end))
        nights: dict[date, NightSummary] = {}
        snapshot_index = -1
        previous_queued: int | None = None
        residents = 0
        by_pod_active: dict[tuple[str, str], bool] = {}
        total = settings.total_bytes  # the accounting uses the real card, whatever the policy assumes
        for t in range(start, end):
            # The latest snapshot: the residents' truth for the accounting.
            while snapshot_index + 1 < len(trace.snapshots) and _epoch(trace.snapshots[snapshot_index + 1].time) <= t:
                snapshot_index += 1
                snapshot = trace.snapshots[snapshot_index]
                if snapshot_index > 0 and window.contains(snapshot.time):
                    gap = (snapshot.time - trace.snapshots[snapshot_index - 1].time).total_seconds()
                    if gap > trace.step_seconds:
                        self._night(nights, t).outages += 1
                residents = sum(p.used_bytes for p in snapshot.pods)
                now_active = {(p.namespace, p.pod): p.used_bytes >= WAKE_THRESHOLD_BYTES for p in snapshot.pods}
                if window.contains(snapshot.time):
                    wakes = sum(1 for key, active in now_active.items() if active and not by_pod_active.get(key, False))
                    if wakes and snapshot_index > 0:
                        self._night(nights, t).wakes += wakes
                by_pod_active = now_active
            fired = len(crons.get(t, ()))
            if fired:
                self._night(nights, t).job_pods += fired
            for command in self.commands_at(t, crons):
                before = len(self.result.actions)
                self.run(t, command)
                for action in self.result.actions[before:]:
                    summary = self._night(nights, t)
                    if action.replicas >= 1:
                        summary.entries += 1
                    elif action.reason in (policy.Reason.NO_ROOM.value, policy.Reason.BLIND.value):
                        summary.yields += 1
                    elif action.reason == policy.Reason.OVER_BUDGET.value:
                        summary.over_budget += 1
            room = total - residents >= settings.floor_bytes
            holds = self.result.own_bytes(t) > 0
            in_window = window.contains(_instant(t))
            queued = self.config.demand.queued(t) if self.config.demand is not None else None
            if queued == 0 and (previous_queued or 0) > 0:  # the queue drained: an empty stretch begins
                self._night(nights, t).empty_stretches += 1
            previous_queued = queued
            if queued == 0 and self.state.replicas >= 1:
                self._night(nights, t).held_idle_seconds += 1
            # With a queue, the card is worth holding when work waits, at any hour.
            wanted = (queued or 0) > 0 if self.config.demand is not None else in_window
            if wanted or holds:
                summary = self._night(nights, t)
                if wanted and room:
                    summary.oracle_seconds += 1
                    if any(life.bakes(t, pod) for life in self.result.lives[-2:]):
                        summary.bake_seconds += 1
                if holds and not room:
                    summary.breach_seconds += 1
                if holds and residents + pod.peak_bytes > total:
                    summary.conflict_seconds += 1
                if holds and self.config.exporter.answers_empty(t):
                    summary.held_empty_seconds += 1
        self.result.nights = [nights[key] for key in sorted(nights)]
        return self.result

    def _night(self, nights: dict[date, NightSummary], t: int) -> NightSummary:
        key = night_of(t, self.window)
        if key not in nights:
            nights[key] = NightSummary(key.isoformat(), self.config.policy)
        return nights[key]


def daily_spans(windows: list[Window], start: datetime, end: datetime) -> tuple[tuple[int, int], ...]:
    """Each local-time window on every day from `start` to `end`, as epoch-second spans."""
    spans = []
    for window in windows:
        day = start.astimezone(window.tz).date() - timedelta(days=1)
        while day <= end.astimezone(window.tz).date():
            begin = datetime.combine(day, window.start, window.tz)
            finish = datetime.combine(day if window.end > window.start else day + timedelta(days=1), window.end, window.tz)
            spans.append((_epoch(begin), _epoch(finish)))
            day += timedelta(days=1)
    return tuple(sorted(spans))


def default_config(policy_name: str, namespace: str = "tts") -> ReplayConfig:
    """The chart deployed with its defaults (gate/settings.py's table), as `make bench` and `make demo` replay it."""
    parsed = gate_settings.parse(gate_settings.defaults(), {}, None).values
    settings = gate_settings.policy_settings(parsed, namespace, defaults.DEPLOYMENT)
    schedules = Schedules(
        window_up=defaults.WINDOW_UP_SCHEDULE,
        reentry=None,
        guard=defaults.GUARD_SCHEDULE,
        window_down=defaults.WINDOW_DOWN_SCHEDULE,
        sidecar_interval_seconds=parsed["sidecar.interval"],
        controller_interval_seconds=parsed["controller.interval"],
    )
    pod = PodModel(
        peak_bytes=parse_size(defaults.TTS_PEAK),
        start_seconds=parse_duration(defaults.TTS_START),
        load_seconds=parse_duration(defaults.TTS_LOAD),
        release_seconds=parse_duration(defaults.TTS_RELEASE),
    )
    return ReplayConfig(policy_name, settings, schedules, pod, ExporterModel(label_lag_seconds=parse_duration(defaults.EXPORTER_LAG)))


def with_demand(
    config: ReplayConfig, demand: DemandTrace, idle_after_seconds: float | None = None, failure_every: int = 20
) -> ReplayConfig:
    """`config` with a queue trace and the chart's demand settings (idle-after by default)."""
    idle_after = idle_after_seconds if idle_after_seconds is not None else parse_duration(gate_settings.BY_KEY["demand.idleAfter"].default)
    settings = replace(config.settings, demand=DemandSettings(idle_after_seconds=idle_after))
    return replace(config, settings=settings, demand=demand, demand_failure_every=failure_every)


DEMAND_HEADER = ["timestamp", "queued"]


def parse_demand_csv(text: str, name: str = "demand") -> DemandTrace:
    """`timestamp,queued` rows: the queue's depth from each time on."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != DEMAND_HEADER:
        raise InvalidValue(f"{name}: expected the header {','.join(DEMAND_HEADER)}, got {','.join(header or [])!r}")
    rows = []
    for number, row in enumerate(reader, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2 or not row[1].strip().isdigit():
            raise InvalidValue(f"{name} line {number}: expected a time and a whole number of queued items, got {','.join(row)!r}")
        try:
            when = parse_instant(row[0].strip())
        except InvalidValue as exc:
            raise InvalidValue(f"{name} line {number}: {exc}") from exc
        rows.append((_epoch(when), int(row[1])))
    if not rows:
        raise InvalidValue(f"{name}: no rows")
    return DemandTrace(tuple(sorted(rows)))


def replay(trace: Trace, config: ReplayConfig) -> ReplayResult:
    """Replay `trace` under `config`; the trace's own pods of the Deployment are dropped (the
    simulation runs its own)."""
    residents_only = trace.keeping(lambda p: not policy.is_own(p, config.settings))
    settings = config.settings
    if config.exporter.source not in EXPORTER_SOURCES:
        raise InvalidValue(f"invalid exporter source {config.exporter.source!r}: expected one of {', '.join(EXPORTER_SOURCES)}")
    if config.policy == "reactive":
        settings = replace(settings, stable_seconds=0, cooldown_max_seconds=0, hysteresis_bytes=0)
        config = replace(config, settings=settings, exporter=ExporterModel())
    return _Simulation(residents_only, config).simulate()
