"""The schedule: which gate commands run at each second, as the chart deploys them. The
CronJobs on their schedules in the time zone (DST included; each fire is a Job pod), the
controller's `tick` every interval at any hour, and while the TTS pod's containers run, its
sidecar's guard every interval from their start (`watch`: `guard --watch`, which may park).
`seed` runs the seed stack's CronJobs; `reactive` runs preflight or guard every 15 s and nothing
else."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gate.cron import fire_times, parse_cron
from gate.replay.clock import epoch
from gate.replay.world import Life, PodModel
from gate.seed import SEED_SCHEDULES
from gate.units import Window

REACTIVE_INTERVAL_SECONDS = 15


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


class Schedule:
    """The commands of one replay, second by second, from `start` to `end`."""

    def __init__(self, policy: str, schedules: Schedules, pod: PodModel, tz: ZoneInfo, start: datetime, end: datetime):
        self.policy = policy
        self.schedules = schedules
        self.pod = pod
        self.crons = _cron_commands(policy, schedules, tz, start, end)

    def job_pods(self, t: int) -> int:
        """CronJob fires at t: each creates a Job and its pod."""
        return len(self.crons.get(t, ()))

    def commands_at(self, t: int, replicas: int, life: Life | None) -> list[str]:
        """The commands at t, in the order one second runs them, given the Deployment's replicas
        and the pod it wants (for the sidecar's timing)."""
        commands = []
        controller = self.schedules.controller_interval_seconds
        if self.policy == "gate" and controller and t % controller == 0:
            commands.append("tick")
        # A CronJob's run begins once its Job's pod has started, seconds after its schedule: the
        # loops, already running, act first in the same second.
        commands += self.crons.get(t, ())
        if self.policy == "reactive" and t % REACTIVE_INTERVAL_SECONDS == 0:
            commands.append("guard" if replicas else "preflight")
        interval = self.schedules.sidecar_interval_seconds
        running = self.policy == "gate" and interval and life is not None and life.running(t, self.pod)
        if running and (t - life.up - self.pod.start_seconds) % interval == 0:  # type: ignore[union-attr]
            commands.insert(0, "watch")  # the sidecar acts first too
        return commands


def _cron_commands(policy: str, schedules: Schedules, tz: ZoneInfo, start: datetime, end: datetime) -> dict[int, list[str]]:
    """Second -> the commands the CronJobs run then, in the order one second runs them."""
    if policy == "seed":
        jobs = [("down", SEED_SCHEDULES["down"]), ("guard", SEED_SCHEDULES["guard"]), ("preflight", SEED_SCHEDULES["preflight"])]
    elif policy == "gate":
        s = schedules
        jobs = [("down", s.window_down), ("guard", s.guard), ("preflight", s.window_up), ("preflight", s.reentry)]
    else:
        jobs = []
    commands: dict[int, list[str]] = defaultdict(list)
    for command, schedule in jobs:
        if schedule:
            for when in fire_times(parse_cron(schedule), tz, start, end):
                commands[epoch(when)].append(command)
    return commands


def daily_spans(windows: list[Window], start: datetime, end: datetime) -> tuple[tuple[int, int], ...]:
    """Each local-time window on every day from `start` to `end`, as epoch-second spans."""
    spans = []
    for window in windows:
        day = start.astimezone(window.tz).date() - timedelta(days=1)
        while day <= end.astimezone(window.tz).date():
            begin = datetime.combine(day, window.start, window.tz)
            finish = datetime.combine(day if window.end > window.start else day + timedelta(days=1), window.end, window.tz)
            spans.append((epoch(begin), epoch(finish)))
            day += timedelta(days=1)
    return tuple(sorted(spans))
