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
- Parking (`--park`, the settings' park.enabled): the controller's tick parks and unparks, the
  sidecar parks, the CronJobs neither. A park asked at p holds the peak until p + park and the
  residue after it; an unpark asked at u counts the peak from u and bakes from u + unpark; a park
  or an unpark longer than park.timeout fails (the server is scaled to 0). The pod's control port
  answers at once: the cycle records a park in the second it decided it, where the live gate
  records it once the park has answered (seconds later).
- `seed` replays the seed stack's policy (gate/seed.py); `reactive` is the plain baseline the
  benchmark compares with: every 15 s, enter when there is room and yield when there is not, no
  cool-down, no hysteresis, and a perfect exporter (no lag, no faults): the reference.
- Narration: the ledger turns each night's bake into seconds of audio at the real-time factor
  given (`--rtf`), chunk by chunk, for the server as built and as upstream left it (ledger.py).

The parts, each pure (the import contract forbids I/O in them): `world` (the pod, the exporter,
the demand probe), `schedule` (which commands run when), `ledger` (the nights' accounting, whose
terms its docstring defines), `loop` (the seconds, the decisions through `policy.step`, the state
in a `gate.store.MemoryStore`), `config` (what one replay replays). This module adds the chart's
defaults (`default_config`, `with_demand`).
"""

from __future__ import annotations

from dataclasses import replace

from gate import defaults
from gate import settings as gate_settings
from gate.policy import DemandSettings
from gate.replay.config import DEMAND_HEADER, POLICIES, ReplayConfig, accounting_window, parse_demand_csv
from gate.replay.ledger import WAKE_THRESHOLD_BYTES, NightSummary, night_of
from gate.replay.loop import Action, ReplayResult, replay
from gate.replay.schedule import REACTIVE_INTERVAL_SECONDS, Schedules, daily_spans
from gate.replay.world import EXPORTER_SOURCES, POD_SUFFIX, DemandTrace, ExporterModel, Life, PodModel
from gate.units import parse_duration, parse_size

__all__ = [
    "DEMAND_HEADER",
    "EXPORTER_SOURCES",
    "POD_SUFFIX",
    "POLICIES",
    "REACTIVE_INTERVAL_SECONDS",
    "WAKE_THRESHOLD_BYTES",
    "Action",
    "DemandTrace",
    "ExporterModel",
    "Life",
    "NightSummary",
    "PodModel",
    "ReplayConfig",
    "ReplayResult",
    "Schedules",
    "accounting_window",
    "daily_spans",
    "default_config",
    "night_of",
    "parse_demand_csv",
    "replay",
    "with_demand",
    "with_parking",
]


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
    pod = PodModel(peak_bytes=parse_size(defaults.TTS_PEAK), residue_bytes=parse_size(defaults.TTS_RESIDUE))
    exporter = ExporterModel(label_lag_seconds=parse_duration(defaults.EXPORTER_LAG))
    return ReplayConfig(policy_name, settings, schedules, pod, exporter, realtime_factor=float(defaults.REALTIME_FACTOR))


def with_parking(config: ReplayConfig) -> ReplayConfig:
    """`config` with parking on, at the chart's park.* defaults (`gate replay --park`)."""
    parsed = gate_settings.parse({**gate_settings.defaults(), "park.enabled": True}, {}, None).values
    park = gate_settings.policy_settings(parsed, config.settings.namespace, config.settings.deployment).park
    return replace(config, settings=replace(config.settings, park=park))


def with_demand(
    config: ReplayConfig, demand: DemandTrace, idle_after_seconds: float | None = None, failure_every: int = 20
) -> ReplayConfig:
    """`config` with a queue trace and the chart's demand settings (idle-after by default)."""
    idle_after = idle_after_seconds if idle_after_seconds is not None else parse_duration(gate_settings.BY_KEY["demand.idleAfter"].default)
    settings = replace(config.settings, demand=DemandSettings(idle_after_seconds=idle_after))
    return replace(config, settings=settings, demand=demand, demand_failure_every=failure_every)
