"""The gate's decisions, as plain functions over plain data.

Nothing here opens a socket or reads a clock: the live commands and `gate replay` call the same
functions with what they saw and when. The rules, in the residents' favour every time:

- Residents are every GPU user except the TTS Deployment's own pods, so holding the card never
  counts against itself. The card has room when `total - residents >= floor`, the same test in
  preflight and guard.
- Blind (metrics unreachable, unparseable, stale, implausible, the family missing): preflight
  never takes the card, and guard, holding it, yields. An exporter that serves the family with
  no samples is an idle card, not blindness; the sources decide that.
- After a yield, re-entry waits until the card has had room, with a margin above the floor, for
  a stable period. That memory lives in annotations on the Deployment, so every run of the gate
  (CronJob or sidecar) sees it.
- The window is read on the local wall clock of the configured time zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from gate.units import Window, format_duration, format_instant, format_size, parse_instant

# The gate's memory between runs, kept on the Deployment.
YIELDED_AT = "tts.gate/yielded-at"
ROOM_SINCE = "tts.gate/room-since"


@dataclass(frozen=True)
class PodUsage:
    namespace: str
    pod: str
    used_bytes: int


@dataclass(frozen=True)
class Reading:
    """What a metrics source saw: per-pod usage, and device figures where it has them.

    `unattributed_bytes` is memory the source sees but cannot put on a pod (a device-level
    exporter, or processes it cannot map): it always counts as a resident's.
    """

    pods: tuple[PodUsage, ...] = ()
    unattributed_bytes: int = 0
    device_total_bytes: int | None = None
    sampled_at: datetime | None = None  # None: as fresh as the answer (exporters rarely stamp samples)


@dataclass(frozen=True)
class Blind:
    """The source could not be read or its answer cannot be trusted."""

    reason: str


Observation = Reading | Blind


@dataclass(frozen=True)
class Settings:
    namespace: str
    deployment: str
    floor_bytes: int
    total_bytes: int | None = None  # the operator's figure; else the device's
    window: Window | None = None
    stable_seconds: float = 120.0
    # After a yield, re-entry also needs this much more than the floor: a resident whose usage
    # jitters across the floor must not pull the server in and out.
    hysteresis_bytes: int = 512 * 2**20
    max_age_seconds: float = 60.0


@dataclass(frozen=True)
class GateState:
    """The Deployment as the gate reads it: desired replicas and the gate's annotations."""

    replicas: int
    yielded_at: datetime | None = None
    room_since: datetime | None = None

    @classmethod
    def from_annotations(cls, replicas: int, annotations: Mapping[str, str]) -> GateState:
        """Read the state annotations; an unreadable one is ignored (treated as absent)."""

        def instant(key: str) -> datetime | None:
            try:
                return parse_instant(annotations[key]) if key in annotations else None
            except ValueError:
                return None

        return cls(replicas=replicas, yielded_at=instant(YIELDED_AT), room_since=instant(ROOM_SINCE))


@dataclass(frozen=True)
class View:
    """What the gate makes of an observation at one instant."""

    now: datetime
    in_window: bool
    blind_reason: str | None = None
    total_bytes: int | None = None
    residents: tuple[PodUsage, ...] = ()
    own: tuple[PodUsage, ...] = ()
    unattributed_bytes: int = 0

    @property
    def blind(self) -> bool:
        return self.blind_reason is not None

    @property
    def resident_bytes(self) -> int:
        return sum(p.used_bytes for p in self.residents) + self.unattributed_bytes

    @property
    def own_bytes(self) -> int:
        return sum(p.used_bytes for p in self.own)

    @property
    def free_bytes(self) -> int | None:
        """What the card offers the TTS pod: total minus the residents (our own use excluded)."""
        if self.blind or self.total_bytes is None:
            return None
        return self.total_bytes - self.resident_bytes


class Reason(StrEnum):
    """Why a command did what it did; also the Event reason suffix and the metric label."""

    ENTERED = "entered"
    ALREADY_UP = "already-up"
    OUT_OF_WINDOW = "out-of-window"
    NO_ROOM = "no-room"
    BLIND = "blind"
    COOLING_DOWN = "cooling-down"
    HOLDING = "holding"
    NOT_HOLDING = "not-holding"
    WINDOW_END = "window-end"
    ALREADY_DOWN = "already-down"


@dataclass(frozen=True)
class Decision:
    command: str
    reason: Reason
    message: str
    replicas: int | None = None  # the replicas to set; None leaves them alone
    annotations: Mapping[str, str | None] = field(default_factory=dict)  # None removes a key

    @property
    def refused(self) -> bool:
        """A preflight that could have taken the card and did not."""
        return self.command == "preflight" and self.reason not in (Reason.ENTERED, Reason.ALREADY_UP)


# Kubernetes writes the pod-template hash and the pod suffix in this vowel-free alphabet.
_KUBE_ALPHABET = "[bcdfghjklmnpqrstvwxz2456789]"


def own_pod_pattern(deployment: str) -> re.Pattern[str]:
    """Pods of a Deployment are named `<deployment>-<pod-template hash>-<5 characters>`."""
    return re.compile(rf"^{re.escape(deployment)}-{_KUBE_ALPHABET}{{1,10}}-{_KUBE_ALPHABET}{{5}}$")


def is_own(usage: PodUsage, settings: Settings) -> bool:
    return usage.namespace == settings.namespace and bool(own_pod_pattern(settings.deployment).match(usage.pod))


def assess(observation: Observation, settings: Settings, now: datetime) -> View:
    """Turn what a source saw into the gate's view: residents, own use, total, blindness."""
    in_window = settings.window.contains(now) if settings.window else True
    if isinstance(observation, Blind):
        return View(now=now, in_window=in_window, blind_reason=observation.reason)

    reading = observation
    total = settings.total_bytes if settings.total_bytes is not None else reading.device_total_bytes
    residents = tuple(p for p in reading.pods if not is_own(p, settings))
    own = tuple(p for p in reading.pods if is_own(p, settings))
    view = View(
        now=now,
        in_window=in_window,
        total_bytes=total,
        residents=residents,
        own=own,
        unattributed_bytes=reading.unattributed_bytes,
    )
    problem = _implausible(view, reading, settings, now)
    if problem:
        return View(now=now, in_window=in_window, blind_reason=problem)
    return view


def _implausible(view: View, reading: Reading, settings: Settings, now: datetime) -> str | None:
    if view.total_bytes is None:
        return "the source reports no device total and none is configured (set GATE_TOTAL)"
    if reading.sampled_at is not None:
        age = (now - reading.sampled_at).total_seconds()
        if age > settings.max_age_seconds:
            return f"the metrics are stale: sampled {format_duration(age)} ago, more than {format_duration(settings.max_age_seconds)}"
        if age < -settings.max_age_seconds:
            # A clock that jumped, here or on the exporter: the figures' time cannot be trusted.
            return f"the metrics are dated {format_duration(-age)} in the future: the clocks disagree"
    used = view.resident_bytes + view.own_bytes
    if used > view.total_bytes:
        # More than the card holds: a wrong unit or a wrong total, never something to act on.
        return f"the sources report {format_size(used)} in use on a card of {format_size(view.total_bytes)}; wrong unit or wrong total?"
    return None


def has_room(view: View, settings: Settings, margin_bytes: int = 0) -> bool:
    free = view.free_bytes
    return free is not None and free >= settings.floor_bytes + margin_bytes


def _room_text(view: View, settings: Settings) -> str:
    return (
        f"free {format_size(view.free_bytes)} (total {format_size(view.total_bytes)} - residents "
        f"{format_size(view.resident_bytes)}) vs floor {format_size(settings.floor_bytes)}"
    )


def _window_text(settings: Settings) -> str:
    return str(settings.window) if settings.window else "no window"


def _cleared(state: GateState) -> dict[str, str | None]:
    """Annotation changes that remove whatever cool-down state is set."""
    present = {YIELDED_AT: state.yielded_at, ROOM_SINCE: state.room_since}
    return {key: None for key, value in present.items() if value is not None}


def decide_preflight(view: View, state: GateState, settings: Settings) -> Decision:
    """Take the card (replicas 1) only inside the window, with room, and past any cool-down."""
    cmd = "preflight"
    now = view.now
    clear_room: dict[str, str | None] = {ROOM_SINCE: None} if state.room_since is not None else {}
    if state.replicas >= 1:
        return Decision(cmd, Reason.ALREADY_UP, f"already at {state.replicas} replica(s)")
    if not view.in_window:
        return Decision(cmd, Reason.OUT_OF_WINDOW, f"outside the window ({_window_text(settings)})", annotations=clear_room)
    if view.blind:
        return Decision(cmd, Reason.BLIND, f"not taking the card: {view.blind_reason}", annotations=clear_room)
    if not has_room(view, settings):
        return Decision(cmd, Reason.NO_ROOM, f"no room: {_room_text(view, settings)}", annotations=clear_room)
    if state.yielded_at is not None:
        if not has_room(view, settings, settings.hysteresis_bytes):
            return Decision(
                cmd,
                Reason.COOLING_DOWN,
                f"after a yield, re-entry needs {format_size(settings.hysteresis_bytes)} above the floor: {_room_text(view, settings)}",
                annotations=clear_room,
            )
        since = state.room_since
        if since is None or since > now:  # none yet, or from a clock that has since jumped back
            return Decision(
                cmd,
                Reason.COOLING_DOWN,
                f"room seen after the yield at {format_instant(state.yielded_at)}; re-entry after "
                f"{format_duration(settings.stable_seconds)} of room",
                annotations={ROOM_SINCE: format_instant(now)},
            )
        held = (now - since).total_seconds()
        if held < settings.stable_seconds:
            return Decision(
                cmd,
                Reason.COOLING_DOWN,
                f"room for {format_duration(held)} of the {format_duration(settings.stable_seconds)} needed after a yield",
            )
    return Decision(cmd, Reason.ENTERED, f"taking the card: {_room_text(view, settings)}", replicas=1, annotations=_cleared(state))


def decide_guard(view: View, state: GateState, settings: Settings) -> Decision:
    """Holding the card, yield it (replicas 0) when blind, out of the window, or out of room."""
    cmd = "guard"
    if state.replicas < 1:
        return Decision(cmd, Reason.NOT_HOLDING, "not holding the card")
    yielded = {**_cleared(state), YIELDED_AT: format_instant(view.now)}
    if view.blind:
        return Decision(cmd, Reason.BLIND, f"yielding the card, blind: {view.blind_reason}", replicas=0, annotations=yielded)
    if not view.in_window:
        # The window's end is not a resident's wake: the next window starts without a cool-down.
        return Decision(
            cmd,
            Reason.OUT_OF_WINDOW,
            f"yielding the card, outside the window ({_window_text(settings)})",
            replicas=0,
            annotations=_cleared(state),
        )
    if not has_room(view, settings):
        return Decision(cmd, Reason.NO_ROOM, f"yielding the card, no room: {_room_text(view, settings)}", replicas=0, annotations=yielded)
    return Decision(cmd, Reason.HOLDING, f"holding the card: {_room_text(view, settings)}")


def decide_down(state: GateState) -> Decision:
    """The window's end: replicas 0 whatever the metrics say, and a clean slate for the next night."""
    if state.replicas == 0:
        return Decision("down", Reason.ALREADY_DOWN, "already at 0 replicas", annotations=_cleared(state))
    return Decision("down", Reason.WINDOW_END, f"scaling {state.replicas} replica(s) to 0", replicas=0, annotations=_cleared(state))


DECIDERS = {
    "preflight": decide_preflight,
    "guard": decide_guard,
}


def decide(command: str, view: View, state: GateState, settings: Settings) -> Decision:
    return DECIDERS[command](view, state, settings)
