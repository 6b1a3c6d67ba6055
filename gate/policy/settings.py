"""What the policy is told by the operator: the floor, the window, the cool-down and the rest,
as plain values (`gate.settings` parses them from the settings table)."""

from __future__ import annotations

from dataclasses import dataclass

from gate.units import Window


@dataclass(frozen=True)
class DemandSettings:
    idle_after_seconds: float = 300.0
    window: Window | None = None  # the hours demand may take the card; None: any time


@dataclass(frozen=True)
class ParkSettings:
    """Warm standby (`park.*` in the settings; None on `Settings`: off). On a wake the server
    parks (its model moves to host memory, a residue stays on the card) when the card can hold
    the residue with the floor's headroom above the peak; else it is scaled to 0 as without."""

    # What a parked server may keep on the card (the CUDA context and the allocator's leftovers):
    # the parked rule counts it before the exporter has measured it, and a measured residue past
    # it is a scale to 0.
    residue_bytes: int = 1536 * 2**20
    # A park held longer than this is scaled to 0: the residue and the model's host copy are kept
    # only while a return is likely.
    max_parked_seconds: float = 3600.0
    # A park or an unpark the server has not confirmed within this is a failure: scale to 0.
    timeout_seconds: float = 15.0
    # After a park, the card must show room (with the hysteresis) this long before an unpark.
    cooldown_seconds: float = 10.0


@dataclass(frozen=True)
class Settings:
    namespace: str
    deployment: str
    floor_bytes: int
    total_bytes: int | None = None  # the operator's figure; else the device's
    window: Window | None = None
    # After a yield, re-entry waits this long with room: the first cool-down, which doubles with
    # each yield that cut an entry short, up to `cooldown_max_seconds` (below `cooldown_seconds`:
    # a fixed cool-down).
    cooldown_seconds: float = 10.0
    cooldown_max_seconds: float = 120.0
    # After a yield, re-entry also needs this much more than the floor: a resident whose usage
    # jitters across the floor must not pull the server in and out.
    hysteresis_bytes: int = 512 * 2**20
    max_age_seconds: float = 60.0
    # An exporter listing no GPU process is an idle card only when the operator says so here.
    empty_is_idle: bool = False
    # How long after entry unlabelled new memory may be the own pod's: the pod's start (~45 s),
    # the exporter's 60 s pod cache and one 15 s collection, with a minute to spare.
    startup_grace_seconds: float = 180.0
    # The server's GPU peak: with a source that attributes nothing, growth since entry up to
    # this is presumed the server's own while it holds the card.
    own_peak_bytes: int = int(4.5 * 2**30)
    # No entry closer than this to the window's end: a start (~45 s) and a model load would not
    # finish before window-down takes the card back.
    entry_margin_seconds: float = 300.0
    demand: DemandSettings | None = None  # None: no demand probe, the window alone decides
    # false pauses the gate (the settings' switch; the Lease's is `GateState.paused`).
    enabled: bool = True
    park: ParkSettings | None = None  # None: no parking, every give-back scales to 0


__all__ = [
    "DemandSettings",
    "ParkSettings",
    "Settings",
]
