"""The simulated world: the TTS pod the gate scales (each life from desired 1 to scaled to 0, and
the parks within it), the exporter as the owner's behaves (its label lag, its HELP/TYPE-only
answers, a device-level source beside it or dcgm alone) and the demand probe over a queue trace.
It answers what a command at t would read, and is scaled, parked and unparked through
`SimulatedPod`, the cycle's target; it decides nothing."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace

from gate import defaults, policy
from gate.cycle import Scale
from gate.policy import Blind, Demand, ParkReport, PodUsage, Reading, ServerState, Settings
from gate.replay.clock import instant
from gate.sources import EXPORTERS
from gate.trace import Trace
from gate.units import parse_duration

# The simulated pod's name: a ReplicaSet pod of the Deployment, as the exporter would label it.
POD_SUFFIX = "-6b7c9d8f5-h4j7k"
# The exporters a replay can play (read directly; Prometheus is a way of reading them, not one).
EXPORTER_SOURCES = tuple(e.name for e in EXPORTERS if e.scraped)
DEVICE_LEVEL = frozenset(e.name for e in EXPORTERS if not e.per_pod)


@dataclass(frozen=True)
class PodModel:
    """The TTS pod: its peak memory and its timings, those by default `gate replay`'s simulated server's (gate/defaults.py)."""

    peak_bytes: int
    start_seconds: float = parse_duration(defaults.TTS_START)
    load_seconds: float = parse_duration(defaults.TTS_LOAD)
    release_seconds: float = parse_duration(defaults.TTS_RELEASE)
    # Parked: what the server keeps on the card (none by default: a pod that never parks), and
    # how long a park (asked to the model off the card; the card's memory is the peak's until
    # then) and an unpark (asked to serving; counted at the peak from the moment it is asked) take.
    residue_bytes: int = 0
    park_seconds: float = parse_duration(defaults.TTS_PARK)
    unpark_seconds: float = parse_duration(defaults.TTS_UNPARK)


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

    # gpu-pod-exporter (per pod), or dcgm or nvidia_gpu_exporter (device-level alone: nothing is attributed)
    source: str = "gpu-pod-exporter"
    # The new TTS pod's memory reads `unknown` this long after its containers start.
    label_lag_seconds: float = 0
    # Epoch-second spans [start, end) in which the exporter answers HELP/TYPE only.
    empty_spans: tuple[tuple[int, int], ...] = ()
    # A device-level exporter read beside the per-pod one (the gate's --device-source).
    device: bool = False

    def answers_empty(self, t: int) -> bool:
        return any(start <= t < end for start, end in self.empty_spans)


@dataclass
class Park:
    """A park within a life: asked at `start`, its unpark asked at `end` (None: parked still)."""

    start: int
    end: int | None = None


@dataclass
class Life:
    """One TTS pod: desired 1 at `up` (epoch seconds), 0 at `down` (None: still desired)."""

    up: int
    down: int | None = None
    parks: list[Park] = field(default_factory=list)

    def holds(self, t: int, pod: PodModel) -> bool:
        return self.up + pod.start_seconds <= t and (self.down is None or t < self.down + pod.release_seconds)

    def bakes(self, t: int, pod: PodModel) -> bool:
        return self.segment(t, pod) is not None

    def segment(self, t: int, pod: PodModel) -> int | None:
        """Which stretch of serving (0 before the first park, then one per unpark) bakes at t;
        None: not baking (starting, loading, parking, parked, unparking, or gone)."""
        if not (self.up + pod.start_seconds + pod.load_seconds <= t and (self.down is None or t < self.down)):
            return None
        for index, park in enumerate(self.parks):
            if park.start <= t and (park.end is None or t < park.end + pod.unpark_seconds):
                return None
            if t < park.start:
                return index
        return len(self.parks)

    def parked(self, t: int, pod: PodModel) -> bool:
        """The model off the card at t: a park finished and not yet unparked, while it holds."""
        if not self.holds(t, pod):
            return False
        return any(park.start + pod.park_seconds <= t and (park.end is None or t < park.end) for park in self.parks)

    def memory(self, t: int, pod: PodModel) -> int:
        if not self.holds(t, pod):
            return 0
        return pod.residue_bytes if self.parked(t, pod) else pod.peak_bytes

    def running(self, t: int, pod: PodModel) -> bool:
        """The containers (the sidecar among them) are up."""
        return self.up + pod.start_seconds <= t and (self.down is None or t < self.down)


@dataclass
class World:
    """The card, the pod and the queue as the gate's commands would find them."""

    trace: Trace  # the residents only
    settings: Settings
    pod: PodModel
    exporter: ExporterModel
    demand: DemandTrace | None = None
    demand_failure_every: int = 0  # every N-th probe fails (0: none)
    lives: list[Life] = field(default_factory=list)
    probes: int = 0
    last_demand: tuple[int, int] | None = None  # (queued, when): the probe's memory

    def __post_init__(self) -> None:
        self.own_pod = PodUsage(self.settings.namespace, self.settings.deployment + POD_SUFFIX, self.pod.peak_bytes)

    @property
    def life(self) -> Life | None:
        """The pod the Deployment wants now, if any."""
        lives = self.lives
        return lives[-1] if lives and lives[-1].down is None else None

    def scale(self, t: int, replicas: int) -> None:
        """The Deployment scaled at t: a new pod's life begins, or the current one ends."""
        if replicas >= 1:
            self.lives.append(Life(up=t))
        elif self.life is not None:
            self.life.down = t

    def own_bytes(self, t: int) -> int:
        """The pod's memory at the second the simulation is at: the last two lives (one going,
        the next starting) are the only ones that can hold it."""
        return own_bytes(self.lives[-2:], self.pod, t)

    def baking(self, t: int) -> tuple[int, int] | None:
        """(life, stretch of serving) that bakes at t; None: nothing bakes."""
        first = max(0, len(self.lives) - 2)
        for index, life in enumerate(self.lives[first:], start=first):
            segment = life.segment(t, self.pod)
            if segment is not None:
                return index, segment
        return None

    def bakes(self, t: int) -> bool:
        return self.baking(t) is not None

    def parked(self, t: int) -> bool:
        """The pod holds only its parked residue at t."""
        return any(life.parked(t, self.pod) for life in self.lives[-2:])

    def observe(self, t: int) -> Reading | Blind:
        """What a scrape at t returns: the trace's snapshot plus the simulated pod's own memory,
        as the modelled exporter reports them."""
        snapshot = self.trace.fresh(instant(t))
        if snapshot is None:
            return Blind(f"no scrape within {self.trace.step_seconds:g}s (exporter down)")
        exporter = self.exporter
        own_bytes = self.own_bytes(t)
        used = sum(p.used_bytes for p in snapshot.pods) + own_bytes
        total = self.settings.total_bytes
        assert total is not None
        if exporter.source in DEVICE_LEVEL:
            return Reading(unattributed_bytes=used, device_total_bytes=total, sampled_at=snapshot.time, attributes=False)
        device = policy.DeviceReading(total_bytes=total, used_bytes=used, sampled_at=snapshot.time) if exporter.device else None
        if exporter.answers_empty(t):
            return Reading(sampled_at=snapshot.time, empty=True, device=device)
        life = self.life
        started = life.up + self.pod.start_seconds if life is not None else None
        if own_bytes and started is not None and t < started + exporter.label_lag_seconds:
            # The exporter's pod cache does not know the new container yet: `unknown` labels.
            return Reading(pods=snapshot.pods, unattributed_bytes=own_bytes, sampled_at=snapshot.time, device=device)
        own = (replace(self.own_pod, used_bytes=own_bytes),) if own_bytes else ()
        return Reading(pods=snapshot.pods + own, sampled_at=snapshot.time, device=device)

    def queued(self, t: int) -> int | None:
        """The queue's true depth at t (None: no queue trace, or before its first row)."""
        return self.demand.queued(t) if self.demand is not None else None

    def probe(self, t: int) -> Demand | None:
        """What the demand probe reads at t: the queue trace, or a failure every N-th probe."""
        if self.demand is None:
            return None
        self.probes += 1
        every = self.demand_failure_every
        queued = self.demand.queued(t)
        if queued is None or (every and self.probes % every == 0):
            last = self.last_demand
            return Demand(None, "the probe failed", *((last[0], t - last[1]) if last else (None, None)))
        self.last_demand = (queued, t)
        return Demand(queued)


class SimulatedPod:
    """The replay's target (`cycle.Target`): the server's Deployment as the world holds it. Its
    replicas are whether a life is wanted, its generation moves with every change of replicas
    (as the API server's does), a scale at the current second (`now`) begins or ends a life, and
    its Events are kept in order. Its control port parks and unparks the current life as the
    server's does (a park asked twice is one park) in the pod model's time; one that takes longer
    than the gate's bound (park.timeout) fails and leaves the model where it was."""

    def __init__(self, world: World):
        self.world = world
        self.now = 0  # the second the simulation is at
        self.replicas = 1 if world.life is not None else 0
        self.generation = 1
        self.events: list[tuple[int, str]] = []

    def _bound(self, op: str, seconds: float) -> None:
        park = self.world.settings.park
        if park is not None and seconds > park.timeout_seconds:
            raise TimeoutError(f"no {op} answer within {park.timeout_seconds:g}s")

    def park(self) -> ParkReport:
        life = self.world.life
        if life is None:
            raise ConnectionRefusedError("no server pod")
        if life.parks and life.parks[-1].end is None:
            return ParkReport(0.0, already=True)
        self._bound("park", self.world.pod.park_seconds)
        life.parks.append(Park(self.now))
        return ParkReport(self.world.pod.park_seconds)

    def unpark(self) -> ParkReport:
        life = self.world.life
        if life is None:
            raise ConnectionRefusedError("no server pod")
        if not life.parks or life.parks[-1].end is not None:
            return ParkReport(0.0, already=True)
        self._bound("unpark", self.world.pod.unpark_seconds)
        life.parks[-1].end = self.now
        return ParkReport(self.world.pod.unpark_seconds)

    def server_state(self) -> ServerState:
        life, pod, t = self.world.life, self.world.pod, self.now
        if life is None:
            return ServerState(None, problem="no server pod")
        last = life.parks[-1] if life.parks else None
        if last is not None and last.end is None:
            done = last.start + pod.park_seconds
            return ServerState("parked" if t >= done else "parking", since=instant(done if t >= done else last.start))
        if last is not None and t < last.end + pod.unpark_seconds:  # type: ignore[operator]
            return ServerState("unparking", since=instant(last.end))  # type: ignore[arg-type]
        return ServerState("serving", since=instant(life.up))

    def read(self) -> Scale:
        return Scale(self.replicas, self.generation)

    def scale(self, replicas: int) -> int:
        if replicas != self.replicas:
            self.world.scale(self.now, replicas)
            self.replicas = 1 if self.world.life is not None else 0
            self.generation += 1
        return self.replicas

    def record(self, reason: str, message: str, warning: bool = False) -> None:
        self.events.append((self.now, reason))


def own_bytes(lives: list[Life], pod: PodModel, t: int) -> int:
    """The simulated pod's memory at t: its peak while a life holds the card, its residue while
    that life is parked (a life going and the next starting: the larger)."""
    return max((life.memory(t, pod) for life in lives), default=0)
