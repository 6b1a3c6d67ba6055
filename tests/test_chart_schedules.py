"""The Job pods the chart's CronJobs create, counted from the rendered manifests (each CronJob's
schedule and timeZone, as the real Helm engine renders them) with the gate's own robfig-compatible
evaluator (gate.cron), over an ordinary day and both DST days of 2026 in Europe/London; and that
nothing that takes the card (window-up) can fire outside the window."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from helm import CHART, by_kind, documents, gate_settings, render
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gate.cron import chart_schedules, fire_times, guard_key, parse_cron
from gate.units import Window, parse_window

GUARD_BY_WINDOW = json.loads((CHART / "files" / "gate-constants.json").read_text())["guardByWindow"]
LATE = yaml.safe_load((CHART / "ci" / "late-window-values.yaml").read_text())
# An ordinary day, the spring-forward day (01:00 does not exist) and the autumn day (01:00-02:00
# happens twice) in Europe/London, 2026.
DAYS = [date(2026, 11, 12), date(2026, 3, 29), date(2026, 10, 25)]
BUDGET = 60  # Job pods a day, the bound


def scheduled(values: dict) -> dict[str, dict]:
    """CronJob name -> spec, for the CronJobs that make pods (a suspended one makes none)."""
    return {c["metadata"]["name"]: c["spec"] for c in by_kind(documents(render(values)), "CronJob") if not c["spec"].get("suspend")}


def local_day(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A whole local day, midnight to midnight (23 or 25 hours on the DST days)."""
    return datetime.combine(day, time(0), tz), datetime.combine(day + timedelta(days=1), time(0), tz)


def pods_per_day(values: dict, day: date) -> dict[str, int]:
    counts = {}
    for name, spec in scheduled(values).items():
        tz = ZoneInfo(spec["timeZone"])
        counts[name] = sum(1 for _ in fire_times(parse_cron(spec["schedule"]), tz, *local_day(day, tz)))
    return counts


@pytest.mark.parametrize(
    ("values", "ordinary", "spring", "autumn"),
    [
        # 02:00-06:00 stays out of the hour the clocks change in: 1 + 48 + 1 every day.
        ({}, {"tts-window-up": 1, "tts-guard": 48, "tts-window-down": 1}, 50, 50),
        # 22:00-04:00 covers 01:00: the guard runs 6 fewer times on the spring day, 6 more on the
        # autumn one (every 10 minutes: six hours at every 5 would be 72 pods).
        (LATE, {"tts-window-up": 1, "tts-guard": 36, "tts-window-down": 1}, 32, 44),
        # No window: the guard every 30 minutes, all day.
        ({"gate": {"window": ""}}, {"tts-guard": 48}, 46, 50),
    ],
    ids=["defaults", "22:00-04:00", "any time"],
)
def test_job_pods_a_day_stay_within_the_budget(values, ordinary, spring, autumn):
    counts = {day: pods_per_day(values, day) for day in DAYS}
    assert counts[DAYS[0]] == ordinary
    assert sum(counts[DAYS[1]].values()) == spring
    assert sum(counts[DAYS[2]].values()) == autumn
    assert all(sum(c.values()) <= BUDGET for c in counts.values()), counts


def test_the_kill_switch_leaves_only_what_gives_the_card_back():
    assert pods_per_day({"gate": {"enabled": False}}, DAYS[0]) == {"tts-guard": 48, "tts-window-down": 1}


@pytest.mark.parametrize(
    "values",
    [
        {},
        LATE,
        {"gate": {"window": "02:30-06:15"}},
        {"gate": {"window": "23:45-00:10", "timeZone": "America/New_York"}},
    ],
    ids=["defaults", "22:00-04:00", "02:30-06:15", "23:45-00:10 New York"],
)
@pytest.mark.parametrize("day", DAYS, ids=["ordinary", "spring", "autumn"])
def test_nothing_that_takes_the_card_fires_outside_the_window(values, day):
    rendered = render(values)
    settings = gate_settings(documents(rendered))  # what every gate container reads
    window = parse_window(settings["window"], ZoneInfo(settings["timeZone"]))
    [up] = [c["spec"] for c in by_kind(documents(rendered), "CronJob") if c["metadata"]["name"] == "tts-window-up"]
    tz = ZoneInfo(up["timeZone"])
    fires = list(fire_times(parse_cron(up["schedule"]), tz, *local_day(day, tz)))
    assert fires, "window-up never fires"
    assert all(window.contains(instant) for instant in fires), [f.astimezone(tz).isoformat() for f in fires]


@pytest.mark.parametrize("window", ["02:00-06:00", "22:00-04:00", "02:30-06:15", "00:00-23:59", "12:00-11:00", "05:10-05:20"])
def test_the_guard_covers_every_minute_of_the_window_and_stays_within_48_runs(window):
    """The guard's derived hours span the whole window (no minute of it unguarded by more than
    the step) and its step keeps it at 48 runs or fewer on an ordinary day."""
    guard = scheduled({"gate": {"window": window}})["tts-guard"]
    tz = ZoneInfo(guard["timeZone"])
    fires = list(fire_times(parse_cron(guard["schedule"]), tz, *local_day(DAYS[0], tz)))
    assert len(fires) <= 48
    inside = parse_window(window, tz)
    step = int(guard["schedule"].split()[0].removeprefix("*/"))
    start, end = local_day(DAYS[0], tz)
    minute = start
    while minute < end:
        if inside.contains(minute):
            assert any(timedelta(0) <= minute - fire < timedelta(minutes=step) for fire in fires), minute.isoformat()
        minute += timedelta(minutes=1)


# A window of each shape the guard's key tells apart (gate.cron.guard_key): the end on the hour or
# not, past midnight or not, within one hour either way, ending at midnight, hours of one digit.
WINDOWS = [
    "02:00-06:00",
    "22:00-04:00",
    "02:30-06:15",
    "00:00-23:59",
    "12:00-11:00",
    "05:10-05:20",
    "05:20-05:10",
    "05:30-05:00",
    "03:00-02:30",
    "23:45-00:10",
    "22:00-00:00",
    "2:05-6:00",
    "",
]


@pytest.mark.parametrize("window", WINDOWS)
def test_the_replay_derives_the_schedules_the_chart_renders(window):
    """`gate replay --config gate.yaml` fires what the cluster's CronJobs fire: the chart's
    schedules are gate.cron's derivation (its table for the guard), window by window."""
    rendered = scheduled({"gate": {"window": window}})
    derived = chart_schedules(parse_window(window, ZoneInfo("Europe/London")) if window else None)
    names = ("tts-window-up", "tts-guard", "tts-window-down")
    assert tuple(rendered[name]["schedule"] if name in rendered else None for name in names) == derived


@settings(max_examples=300, deadline=None)
@given(st.times().map(lambda t: t.replace(second=0, microsecond=0)), st.times().map(lambda t: t.replace(second=0, microsecond=0)))
def test_the_guard_key_names_one_guard_for_every_window(start, end):
    """The table the chart reads (chart/files/gate-constants.json) has the guard of any window
    under its key: the key says all the derivation depends on."""
    assume(start != end)
    guard = chart_schedules(Window(start, end, ZoneInfo("UTC")))[1]
    assert GUARD_BY_WINDOW[guard_key(start, end)] == guard
