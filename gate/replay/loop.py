"""The loop: one second at a time, it hands the ledger each new snapshot, runs the schedule's
commands through the live gate's own cycle (`cycle.cycle`: read, look, `policy.step`, act in
the live write order) with the world's pod as its target and the gate's state in a store as the
live gate keeps it in its Lease, and hands the ledger what happened. The seed's baseline has
its own rule and no state: it only scales the pod."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gate import cycle, policy
from gate.cycle import ParkCall
from gate.policy import Control, Decision
from gate.replay.clock import epoch, instant
from gate.replay.config import POLICIES, ReplayConfig, accounting_window
from gate.replay.ledger import Ledger, NightSummary
from gate.replay.schedule import Schedule
from gate.replay.world import EXPORTER_SOURCES, ExporterModel, Life, SimulatedPod, World, own_bytes
from gate.seed import seed_decide
from gate.store import MemoryStore, NoMemory, StateStore, merge
from gate.trace import Trace
from gate.units import InvalidValue, format_instant

# What each scheduled command may ask of the server's control port: the controller's tick parks
# and unparks, the sidecar (`watch`) parks, the CronJobs neither (`policy.Control`).
CONTROL = {"tick": Control.FULL, "watch": Control.PARK}


@dataclass(frozen=True)
class Action:
    """A change the gate made: the desired replicas, or, at 1, the server parked or serving
    again (`state`: parked, serving; None with 0 replicas)."""

    time: datetime
    replicas: int
    command: str
    reason: str
    state: str | None = None

    def to_json(self) -> dict[str, Any]:
        line = {"time": format_instant(self.time), "replicas": self.replicas, "command": self.command, "reason": self.reason}
        return {**line, "state": self.state} if self.state is not None else line


@dataclass
class ReplayResult:
    policy: str
    trace: Trace
    config: ReplayConfig
    actions: list[Action] = field(default_factory=list)
    lives: list[Life] = field(default_factory=list)
    nights: list[NightSummary] = field(default_factory=list)

    def own_bytes(self, t: int) -> int:
        return own_bytes(self.lives, self.config.pod, t)


class Simulation:
    def __init__(self, trace: Trace, config: ReplayConfig):
        if config.policy not in POLICIES:
            raise InvalidValue(f"invalid policy {config.policy!r}: expected one of {', '.join(POLICIES)}")
        self.trace = trace
        self.config = config
        self.settings = config.settings
        self.window = accounting_window(config)
        self.world = World(trace, config.settings, config.pod, config.exporter, config.demand, config.demand_failure_every)
        self.result = ReplayResult(config.policy, trace, config, lives=self.world.lives)
        self.pod = SimulatedPod(self.world)
        # The gate's state, as the live gate's Lease keeps it: written through the same cycle. The
        # reactive reference remembers no yield.
        self.store: StateStore = NoMemory() if config.policy == "reactive" else MemoryStore()
        self.paused = False

    def run(self, t: int, command: str) -> None:
        if self.config.paused_spans and self.config.policy == "gate":
            self.switch_pause(t)
        self.pod.now = t
        before = self.pod.replicas
        call = None
        if self.config.policy == "seed":
            decision = seed_decide(command, self.world.observe(t), before, self.settings.floor_bytes)
            if decision.replicas is not None:
                self.pod.scale(decision.replicas)
        else:
            outcome = cycle.cycle(
                "guard" if command == "watch" else command,
                self.settings,
                self.store,
                self.pod,
                instant(t),
                observe=lambda: self.world.observe(t),
                probe=lambda: self.world.probe(t),
                record_event=command != "tick",  # the controller records its Events on a change of reason
                control=CONTROL.get(command, Control.NONE),
            )
            decision, call = outcome.decision, outcome.park_call
        self.acted(t, before, decision, call)

    def switch_pause(self, t: int) -> None:
        """The Lease's pause switch as `gate pause` and `gate resume` set it over the paused
        spans (the same merge as their write), so the deciders read it with the rest of the state."""
        paused = any(start <= t < end for start, end in self.config.paused_spans)
        if paused != self.paused:
            merge(self.store, self.store.read(), {policy.PAUSED: "true" if paused else None})
            self.paused = paused

    def acted(self, t: int, before: int, decision: Decision, call: ParkCall | None = None) -> None:
        replicas = self.pod.replicas
        if replicas != before:
            state = "serving" if replicas >= 1 else None
            self.result.actions.append(Action(instant(t), replicas, decision.command, decision.reason.value, state))
        elif call is not None and call.problem is None and not call.already:
            state = "parked" if call.op == "park" else "serving"
            self.result.actions.append(Action(instant(t), replicas, decision.command, decision.reason.value, state))

    def simulate(self) -> ReplayResult:
        trace, settings = self.trace, self.settings
        assert settings.total_bytes is not None
        start = epoch(trace.start)
        end = epoch(trace.end) + int(trace.step_seconds)
        schedule = Schedule(self.config.policy, self.config.schedules, self.config.pod, self.window.tz, instant(start), instant(end))
        # The accounting uses the real card, whatever the policy assumes.
        ledger = Ledger(
            self.config.policy, self.window, trace.step_seconds, settings.total_bytes, settings.floor_bytes, self.config.realtime_factor
        )
        snapshots, index = trace.snapshots, -1
        actions = self.result.actions
        for t in range(start, end):
            while index + 1 < len(snapshots) and epoch(snapshots[index + 1].time) <= t:
                index += 1
                ledger.scraped(t, snapshots[index], snapshots[index - 1] if index > 0 else None)
            ledger.fired(t, schedule.job_pods(t))
            for command in schedule.commands_at(t, self.pod.replicas, self.world.life):
                before = len(actions)
                self.run(t, command)
                for action in actions[before:]:
                    ledger.acted(t, action.replicas, action.reason)
            ledger.second(t, self.world, self.pod.replicas)
        self.result.nights = ledger.summaries()
        return self.result


def replay(trace: Trace, config: ReplayConfig) -> ReplayResult:
    """Replay `trace` under `config`; the trace's own pods of the Deployment are dropped (the
    simulation runs its own)."""
    residents_only = trace.keeping(lambda p: not policy.is_own(p, config.settings))
    settings = config.settings
    if config.exporter.source not in EXPORTER_SOURCES:
        raise InvalidValue(f"invalid exporter source {config.exporter.source!r}: expected one of {', '.join(EXPORTER_SOURCES)}")
    if config.policy == "reactive":
        # The plain reference: no cool-down, no hysteresis, and no parking (it remembers nothing).
        settings = replace(settings, cooldown_seconds=0, cooldown_max_seconds=0, hysteresis_bytes=0, park=None)
        config = replace(config, settings=settings, exporter=ExporterModel())
    return Simulation(residents_only, config).simulate()
