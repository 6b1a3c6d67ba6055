"""gate replay and gate measure: small nights whose answers are worked out by hand, the summary
against the actions file, the benchmark's targets on the sample nights, the CLI."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gate import defaults
from gate.cli import app
from gate.cron import fire_times, parse_cron
from gate.measure import NothingToMeasure, measure
from gate.policy import PodUsage, Settings
from gate.replay import PodModel, ReplayConfig, Schedules, night_of, replay
from gate.replay.clock import instant
from gate.replay.ledger import LocalMinutes
from gate.report import REPLAY_COLUMNS
from gate.settings import BY_KEY
from gate.status import ExitStatus
from gate.trace import from_rows, load_csv, parse_csv, to_csv
from gate.units import InvalidValue, parse_duration, parse_timezone, parse_window

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from conftest import made_once  # noqa: E402

import bench  # noqa: E402

GiB = 2**30
UTC_ZONE = parse_timezone("UTC")
T = datetime(2026, 11, 12, 2, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T + timedelta(seconds=round(minutes * 60))


def trace(resident_gib, start=-1, end=12, step=15, gaps=()):
    """resident_gib(t) -> {pod: GiB}; snapshots every `step` s from `start` to `end` minutes."""
    rows = {}
    t = at(start)
    while t < at(end):
        minute = (t - T).total_seconds() / 60
        if not any(a <= minute < b for a, b in gaps):
            rows[t] = [PodUsage("res", pod, int(gib * GiB)) for pod, gib in resident_gib(minute).items()]
        t += timedelta(seconds=step)
    return from_rows(rows, "hand")


def config(policy="gate", reentry=None, sidecar=None, peak=4.0, window="02:00-02:10", down="10 2 * * *"):
    settings = Settings(
        namespace="tts",
        deployment="chatterbox-tts",
        floor_bytes=6 * GiB,
        total_bytes=15 * GiB,
        window=parse_window(window, UTC_ZONE),
        cooldown_seconds=120,
        hysteresis_bytes=0,
        entry_margin_seconds=0,  # a ten-minute window: every minute of it may start a bake
    )
    return ReplayConfig(policy, settings, Schedules("0 2 * * *", reentry, None, down, sidecar), PodModel(int(peak * GiB), 45, 60, 15))


def test_a_quiet_night_by_hand():
    result = replay(trace(lambda m: {"a-7d9f8b6c5d-x2k4p": 3}), config())
    [night] = result.nights
    # Up at 02:00:00, memory from 02:00:45, baking from 02:01:45 until the 02:10:00 down.
    assert [(a.time, a.replicas, a.command) for a in result.actions] == [(at(0), 1, "preflight"), (at(10), 0, "down")]
    assert night.oracle_seconds == 600
    assert night.bake_seconds == 10 * 60 - 105
    assert (night.breach_seconds, night.conflict_seconds, night.entries, night.yields, night.wakes) == (0, 0, 1, 0, 0)


def test_a_wake_a_yield_and_a_cooled_down_reentry_by_hand():
    def residents(minute):
        pods = {"a-7d9f8b6c5d-x2k4p": 3}
        if 4 <= minute < 6:
            pods["b-7d9f8b6c5d-x2k4p"] = 7  # 10 GiB of residents: 5 free, under the 6 GiB floor
        return pods

    result = replay(trace(residents), config(reentry="* 2 * * *", sidecar=10, peak=4.5))
    # The sidecar ticks every 10 s from 02:00:45 and sees the 02:04:00 scrape at 02:04:05.
    # Room is back at 02:06:00; re-entry waits 120 s of room: 02:06 starts the clock, 02:08 enters.
    assert [(a.time, a.replicas, a.command, a.reason) for a in result.actions] == [
        (at(0), 1, "preflight", "entered"),
        (at(4 + 5 / 60), 0, "guard", "no-room"),
        (at(8), 1, "preflight", "entered"),
        (at(10), 0, "down", "window-end"),
    ]
    [night] = result.nights
    assert night.oracle_seconds == 600 - 120
    # Baked 02:01:45-02:04:00 in room (135 s) and 02:09:45-02:10:00 (15 s).
    assert night.bake_seconds == 135 + 15
    # Held without room from 02:04:00 until the memory went at 02:04:20; 10 + 4.5 GiB still fit in 15.
    assert (night.breach_seconds, night.conflict_seconds) == (20, 0)
    assert (night.entries, night.yields, night.wakes) == (2, 1, 1)


def test_a_pause_from_the_lease_mid_night_yields_then_reenters_without_a_cool_down_by_hand():
    """`gate pause` at 02:03, `gate resume` at 02:05: the switch is written to the replay's store as
    the live commands write it to the Lease, and the deciders read it with the rest of the state."""
    paused = replace(config(reentry="* 2 * * *", sidecar=10), paused_spans=((int(at(3).timestamp()), int(at(5).timestamp())),))
    result = replay(trace(lambda m: {"a-7d9f8b6c5d-x2k4p": 3}), paused)
    # The sidecar ticks every 10 s from 02:00:45: its first look inside the pause is 02:03:05 (the
    # 02:03:00 preflight finds the card held). A pause is not a wake: 02:05's preflight re-enters.
    assert [(a.time, a.replicas, a.command, a.reason) for a in result.actions] == [
        (at(0), 1, "preflight", "entered"),
        (at(3 + 5 / 60), 0, "guard", "paused"),
        (at(5), 1, "preflight", "entered"),
        (at(10), 0, "down", "window-end"),
    ]
    [night] = result.nights
    assert (night.entries, night.yields, night.wakes) == (2, 0, 0)


def test_conflict_seconds_count_the_pod_holding_memory_the_residents_need():
    # A 1 GiB floor lets the gate in beside 11 GiB of residents; 11 + 4.5 > 15 for every second held,
    # 02:00:45 to 02:10:15, with no guard configured to notice.
    result = replay(
        trace(lambda m: {"a-7d9f8b6c5d-x2k4p": 11}),
        replace(config(peak=4.5), settings=replace(config().settings, floor_bytes=GiB)),
    )
    [night] = result.nights
    assert (night.conflict_seconds, night.breach_seconds) == (570, 0)


def test_blind_guard_yields_and_the_seed_does_not():
    quiet = trace(lambda m: {"a-7d9f8b6c5d-x2k4p": 3}, gaps=[(3, 5)])
    gate = replay(quiet, config(sidecar=10, reentry="* 2 * * *"))
    # The 02:02:45 scrape is the last; a sidecar check after 02:03:00 sees nothing within 15 s.
    yields = [a for a in gate.actions if a.replicas == 0 and a.command == "guard"]
    assert yields and yields[0].reason == "blind" and at(3) < yields[0].time <= at(3 + 20 / 60)
    assert gate.nights[0].outages == 1
    seed = replay(quiet, config(policy="seed"))
    assert [a.command for a in seed.actions] == ["preflight"]  # the seed's 06:00 down is outside this trace


def test_the_seed_counts_its_own_pod_and_evicts_itself():
    # 16 GiB - (7 resident + 4.5 own) = 4.5 < 6: the seed's 02:05 guard yields; the gate, seeing 8 GiB free, holds.
    night = trace(lambda m: {"a-7d9f8b6c5d-x2k4p": 7})
    seed = replay(night, config(policy="seed", peak=4.5))
    assert [(a.time, a.replicas, a.command) for a in seed.actions] == [(at(0), 1, "preflight"), (at(5), 0, "guard")]
    gate = replay(night, config(peak=4.5))
    assert [a.command for a in gate.actions] == ["preflight", "down"]


def test_the_summary_agrees_with_the_actions_file(tmp_path):
    """Rebuild bake and breach seconds from the actions alone, by brute force, and compare."""
    path = ROOT / "samples" / "nights" / "busy.csv"
    actions_file = tmp_path / "actions.jsonl"
    result = CliRunner().invoke(app, ["replay", str(path), "--actions-out", str(actions_file), "--output", "json"])
    assert result.exit_code == 0, result.stderr
    [summary] = json.loads(result.stdout)
    actions = [json.loads(line) for line in actions_file.read_text().splitlines()]
    assert {a["command"] for a in actions} <= {"preflight", "guard", "down"}
    lives, up = [], None
    for action in actions:
        when = int(datetime.fromisoformat(action["time"].replace("Z", "+00:00")).timestamp())
        if action["replicas"] == 1:
            up = when
        else:
            lives.append((up, when))
            up = None
    night = load_csv(path)
    window = parse_window(BY_KEY["window"].default, parse_timezone(BY_KEY["timeZone"].default))
    total, floor, peak = 15360 * 2**20, 6 * GiB, int(4.5 * GiB)
    release = int(parse_duration(defaults.TTS_RELEASE))  # measured: bench/bench.py prints it
    bake = breach = 0
    for t in range(int(night.start.timestamp()), int(night.end.timestamp()) + 15):
        instant = datetime.fromtimestamp(t, UTC)
        residents = sum(p.used_bytes for p in night.latest(instant).pods)
        room = total - residents >= floor
        baking = any(u + 105 <= t < d for u, d in lives)
        holding = any(u + 45 <= t < d + release for u, d in lives)
        bake += baking and room and window.contains(instant)
        breach += holding and not room
        assert not (holding and residents + peak > total) or summary["conflict_seconds"] > 0
    assert (summary["bake_seconds"], summary["breach_seconds"]) == (bake, breach)
    assert summary["entries"] == sum(1 for a in actions if a["replicas"] == 1)


# The sample nights' runs, once for the run: the targets' tests and the design document's tables
# read the same results (each run replays every night in every shape), made once across the xdist
# workers (conftest.made_once). A test that makes them, or waits for another worker to, carries
# their cost (a minute idle, more on a loaded machine): its own timeout.
BENCHMARK = pytest.mark.timeout(600)


@pytest.fixture(scope="session")
def shapes_rows(tmp_path_factory) -> list[bench.Row]:
    return made_once(tmp_path_factory, "benchmark-shapes", lambda: bench.run(bench.NIGHTS))


@pytest.fixture(scope="session")
def exporter_rows(tmp_path_factory) -> list[bench.ExporterRow]:
    return made_once(tmp_path_factory, "benchmark-exporter", lambda: bench.run_exporter_modes(bench.NIGHTS))


@pytest.fixture(scope="session")
def demand_rows(tmp_path_factory) -> list[bench.DemandRow]:
    return made_once(tmp_path_factory, "benchmark-demand", lambda: bench.run_demand(bench.DEMAND_NIGHTS))


@BENCHMARK
def test_the_benchmark_targets_hold_on_the_sample_nights(shapes_rows):
    rows = shapes_rows
    assert {r.name for r in rows} == {
        "quiet",
        "late-start",
        "mid-window-wake",
        "flappy-resident",
        "busy",
        "dst-spring",
        "dst-autumn",
        "exporter-outage",
        *(f"flappy-{name}" for name in ("3x40m", "10x20m", "12x10m", "8x5m", "bursts", "irregular")),
    }
    failed = [text for text, ok in bench.verdicts(rows) if not ok]
    assert failed == []


@BENCHMARK
def test_the_benchmark_targets_hold_with_parking(shapes_rows):
    """gate replay --park beats the plain gate on every night with a wake, never stays parked
    outside the parked rule past its reaction, and never breaches more."""
    assert [text for text, ok in bench.park_verdicts(shapes_rows) if not ok] == []
    assert sum(1 for r in shapes_rows if r.gate.wakes) >= 10


@BENCHMARK
def test_the_benchmark_targets_hold_for_demand(demand_rows):
    rows = demand_rows
    assert {r.name for r in rows} == {"quiet", "mid-window-wake", "busy"}
    assert [text for text, ok in bench.demand_verdicts(rows) if not ok] == []


@BENCHMARK
def test_the_benchmark_targets_hold_with_the_exporters_other_faces(exporter_rows):
    rows = exporter_rows
    assert [text for text, ok in bench.exporter_verdicts(rows) if not ok] == []
    # The first release's start-up handling on the same nights: it evicted itself all night.
    assert all(r.modes["no grace"].entries > 20 and r.modes["no grace"].bake_seconds == 0 for r in rows)


@BENCHMARK
def test_docs_design_md_holds_the_benchmarks_tables(shapes_rows, exporter_rows, demand_rows):
    text = bench.DESIGN.read_text()
    assert bench.with_tables(text, bench.doc_tables(shapes_rows, exporter_rows, demand_rows)) == text, "run: make bench-doc"


def test_the_sample_nights_are_what_the_generator_writes():
    import nights

    for name, text in nights.nights() + nights.flappy():
        assert (ROOT / "samples" / "nights" / f"{name}.csv").read_text() == text, name
    for name, text in nights.demand():
        assert (ROOT / "samples" / "demand" / f"{name}.csv").read_text() == text, name


# -- cron on the nights the clocks change ----------------------------------------------------------

LONDON = parse_timezone("Europe/London")


def test_a_schedule_in_the_skipped_hour_does_not_run_on_the_spring_night():
    fires = list(fire_times(parse_cron("30 1 * * *"), LONDON, datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 3, 30, 12, tzinfo=UTC)))
    assert fires == [datetime(2026, 3, 30, 0, 30, tzinfo=UTC)]  # 28th's 01:30 is before the range; 29th's never was


def test_a_schedule_in_the_repeated_hour_runs_twice_on_the_autumn_night():
    fires = list(
        fire_times(parse_cron("30 1 * * *"), LONDON, datetime(2026, 10, 24, 12, tzinfo=UTC), datetime(2026, 10, 25, 12, tzinfo=UTC))
    )
    assert fires == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)]


def test_the_chart_schedules_keep_out_of_the_dst_hour():
    for schedule in (
        defaults.WINDOW_UP_SCHEDULE,
        defaults.GUARD_SCHEDULE,
        defaults.WINDOW_DOWN_SCHEDULE,
    ):
        assert 1 not in parse_cron(schedule).hours


@pytest.mark.parametrize(
    ("zone", "window", "first"),
    [
        ("Europe/London", "00:30-01:30", datetime(2026, 3, 28, 23, tzinfo=UTC)),  # its end in the skipped hour
        ("Europe/London", "01:00-01:30", datetime(2026, 10, 24, 23, tzinfo=UTC)),  # inside twice, the repeated hour
        ("Asia/Kathmandu", "23:50-00:20", datetime(2026, 11, 12, 17, tzinfo=UTC)),  # +05:45, wrapping midnight
        ("Africa/Monrovia", "23:00-01:30", datetime(1972, 1, 6, 22, tzinfo=UTC)),  # -00:44:30 until 1972, then UTC
    ],
)
def test_the_ledgers_minute_by_minute_clock_agrees_with_the_second_by_second_one(zone, window, first):
    """The ledger asks the night and the window once a UTC minute: on the nights the clocks
    change, in a zone of whole-minute offsets and in one whose offset had seconds, every second
    of four hours reads as the window's own arithmetic says."""
    parsed = parse_window(window, parse_timezone(zone))
    local = LocalMinutes(parsed)
    start = int(first.timestamp())
    for t in range(start, start + 4 * 3600):
        assert local(t) == (night_of(t, parsed), parsed.contains(instant(t))), instant(t)


@pytest.mark.parametrize("text", ["* * * *", "61 * * * *", "* 24 * * *", "0 2 * * MON", "*/0 * * * *", "5-1 * * * *"])
def test_bad_schedules_are_refused(text):
    with pytest.raises(InvalidValue, match="invalid schedule"):
        parse_cron(text)


# -- traces ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,ns,pod,bytes\n", "expected the header"),
        ("timestamp,namespace,pod,used_bytes\n2026-11-12T02:00:00Z,a,b\n", "line 2: expected 4 fields"),
        ("timestamp,namespace,pod,used_bytes\nyesterday,a,b,1\n", "line 2: invalid time"),
        ("timestamp,namespace,pod,used_bytes\n2026-11-12T02:00:00Z,a,b,1.5GiB\n", "not a whole number"),
        ("timestamp,namespace,pod,used_bytes\n2026-11-12T02:00:00Z,a,b,1\n2026-11-12T02:00:00Z,a,b,2\n", "appears twice"),
        ("timestamp,namespace,pod,used_bytes\n2026-11-12T02:00:00Z,a,b,1\n", "at least two scrape times"),
    ],
)
def test_bad_traces_name_the_line(text, message):
    with pytest.raises(InvalidValue, match=message):
        parse_csv(text)


def test_an_idle_scrape_survives_a_round_trip():
    night = trace(lambda m: {} if m < 5 else {"a-7d9f8b6c5d-x2k4p": 1}, start=0, end=10)
    again = parse_csv(to_csv(night))
    assert again.snapshots == night.snapshots and again.step_seconds == 15


# -- measure --------------------------------------------------------------------------------------


def test_measure_reports_peak_p99_and_the_floor_to_set():
    def usage(minute):
        own = {"chatterbox-tts-6b7c9d8f5-h4j7k": 4.25 if minute < 9 else 4.5} if 1 <= minute < 10 else {}
        return {"a-7d9f8b6c5d-x2k4p": 3, **own}

    night = trace(usage, start=0, end=12)
    own_trace = from_rows(
        {
            s.time: [PodUsage("tts" if p.pod.startswith("chatterbox") else "res", p.pod, p.used_bytes) for p in s.pods]
            for s in night.snapshots
        },
        "m",
    )
    result = measure(own_trace, Settings("tts", "chatterbox-tts", 0), 2 * GiB)
    assert result.peak_bytes == int(4.5 * GiB)
    assert result.held_samples == 36 and result.held_seconds == 540
    assert result.p99_bytes == int(4.5 * GiB)
    assert result.floor_text == f"{int(6.5 * 1024)}MiB"


def test_measure_prints_the_peak_beside_the_configured_floor(tmp_path):
    rows = {T + timedelta(seconds=15 * i): [PodUsage("tts", "chatterbox-tts-6b7c9d8f5-h4j7k", (4000 + 10 * i) * 2**20)] for i in range(40)}
    path = tmp_path / "bake.csv"
    path.write_text(to_csv(from_rows(rows, "bake")))
    within = CliRunner().invoke(app, ["measure", str(path)])  # the default floor, 6GiB: peak 4390 MiB
    assert within.exit_code == 0, within.stderr
    assert "floor now       6.00 GiB (6144 MiB): within budget: 1.46 GiB under the floor less 0.25 GiB" in within.stdout
    over = CliRunner().invoke(app, ["measure", str(path), "--floor", "4GiB", "-o", "json"])
    payload = json.loads(over.stdout)
    assert (payload["peak_bytes"], payload["configured_floor_bytes"], payload["budget_bytes"]) == (4390 * 2**20, 4 * GiB, 3840 * 2**20)
    assert payload["over_budget"] is True
    text = CliRunner().invoke(app, ["measure", str(path)], env={"GATE_FLOOR": "4GiB"}).stdout
    assert "OVER BUDGET: the peak is 0.54 GiB above the floor less 0.25 GiB" in text


def test_replay_of_a_server_above_its_budget_yields_twice_then_stays_off_for_the_night(tmp_path):
    """The quiet night with a 6 GiB server against the 6 GiB floor (budget 5.75 GiB). Entered at
    02:00, its memory labelled from 02:02 (45 s start, 75 s label lag): the grace ends at 02:03 and
    the controller's tick yields over-budget. One isolated yield: 10 s of room (02:03:10 to
    02:03:20) and it is back; the second yield, three minutes later, bars it until the window ends."""
    actions = tmp_path / "actions.jsonl"
    result = CliRunner().invoke(
        app,
        ["replay", str(ROOT / "samples" / "nights" / "quiet.csv"), "--tts-peak", "6GiB", "--actions-out", str(actions), "-o", "json"],
    )
    assert result.exit_code == 0, result.stderr
    [night] = json.loads(result.stdout)
    assert (night["entries"], night["over_budget"], night["yields"], night["breach_seconds"]) == (2, 2, 0, 0)
    assert [(a["time"][11:19], a["replicas"], a["reason"]) for a in map(json.loads, actions.read_text().splitlines())] == [
        ("02:00:00", 1, "entered"),
        ("02:03:00", 0, "over-budget"),
        ("02:03:20", 1, "entered"),
        ("02:06:20", 0, "over-budget"),
    ]
    within = json.loads(CliRunner().invoke(app, ["replay", str(ROOT / "samples" / "nights" / "quiet.csv"), "-o", "json"]).stdout)
    assert (within[0]["entries"], within[0]["over_budget"]) == (1, 0)


def test_replay_text_shows_the_over_budget_yields():
    result = CliRunner().invoke(app, ["replay", str(ROOT / "samples" / "nights" / "quiet.csv"), "--tts-peak", "5.8GiB"])
    header, row, *legend = result.stdout.splitlines()
    assert header.split()[-2:] == ["over", "budget"] and row.split()[-1] == "2"
    assert "\n".join(legend) == REPLAY_COLUMNS  # what each column means, after the table


def test_the_adaptive_cool_down_reenters_fast_after_an_isolated_wake_and_slower_as_wakes_repeat():
    """A resident (10 GiB: no room) wakes for a minute at 02:04, 02:07, 02:10 and 02:13. The
    gate's defaults (10 s, doubling to 2 m) come back within a tick of the cool-down after each
    wake while the entries keep being cut short, 20 s, 40 s, 80 s."""

    def residents(minute):
        pods = {"a-7d9f8b6c5d-x2k4p": 3}
        if any(start <= minute < start + 1 for start in (4, 7, 10, 13)):
            pods["b-7d9f8b6c5d-x2k4p"] = 7
        return pods

    base = config(window="02:00-02:20", down="20 2 * * *", peak=4.5)
    settings = replace(base.settings, cooldown_seconds=10, cooldown_max_seconds=120)
    schedules = replace(base.schedules, controller_interval_seconds=10, sidecar_interval_seconds=10)
    result = replay(trace(residents, end=22), replace(base, settings=settings, schedules=schedules))
    entries = [a.time for a in result.actions if a.replicas == 1]
    # Room returns at 02:05, 02:08, 02:11, 02:14: the first tick sees it, the cool-down runs from there.
    assert [round((e - at(m)).total_seconds()) for e, m in zip(entries[1:], (5, 8, 11, 14), strict=True)] == [10, 20, 40, 80]
    [night] = result.nights
    assert night.entries == 1 + night.wakes == 5


def test_replay_cli_takes_the_cool_downs_cap(tmp_path):
    night = str(ROOT / "samples" / "nights" / "flappy-8x5m.csv")
    fixed = json.loads(CliRunner().invoke(app, ["replay", night, "--cooldown", "2m", "--cooldown-max", "2m", "-o", "json"]).stdout)
    adaptive = json.loads(CliRunner().invoke(app, ["replay", night, "-o", "json"]).stdout)
    assert adaptive[0]["bake_seconds"] > fixed[0]["bake_seconds"]
    bad = CliRunner().invoke(app, ["replay", night, "--cooldown-max", "soon"])
    assert bad.exit_code == ExitStatus.USAGE and "invalid duration 'soon'" in bad.stderr


def test_measure_refuses_a_range_without_the_tts_pod():
    with pytest.raises(NothingToMeasure, match="no GPU memory of tts/chatterbox-tts"):
        measure(trace(lambda m: {"a-7d9f8b6c5d-x2k4p": 3}), Settings("tts", "chatterbox-tts", 0), 2 * GiB)


def test_measure_cli_prints_the_helm_line(tmp_path):
    rows = {}
    for i in range(40):
        t = T + timedelta(seconds=15 * i)
        rows[t] = [PodUsage("tts", "chatterbox-tts-6b7c9d8f5-h4j7k", (4000 + 10 * i) * 2**20)]
    path = tmp_path / "bake.csv"
    path.write_text(to_csv(from_rows(rows, "bake")))
    result = CliRunner().invoke(app, ["measure", str(path)])
    assert result.exit_code == 0, result.stderr
    assert "helm upgrade tts ./chart -n tts -f my-values.yaml --set gate.floor=6438MiB" in result.stdout
    empty = CliRunner().invoke(app, ["measure", str(ROOT / "samples" / "nights" / "quiet.csv")])
    assert empty.exit_code == ExitStatus.NOTHING_TO_MEASURE  # not blindness: there was nothing to measure
    assert "no GPU memory of tts/chatterbox-tts" in empty.stderr


def test_replay_cli_refuses_bad_input_with_one_line():
    result = CliRunner().invoke(app, ["replay", str(ROOT / "samples" / "nights" / "quiet.csv"), "--policy", "lucky"])
    assert result.exit_code == ExitStatus.USAGE
    assert result.stderr.strip() == "gate: invalid policy 'lucky': expected one of gate, seed, reactive"
    missing = CliRunner().invoke(app, ["replay"])
    assert missing.exit_code == ExitStatus.USAGE and "give one or more trace files" in missing.stderr


def test_replay_plots_both_policies(tmp_path):
    pytest.importorskip("matplotlib")
    picture = tmp_path / "night.png"
    result = CliRunner().invoke(
        app, ["replay", str(ROOT / "samples" / "nights" / "mid-window-wake.csv"), "--compare", "--plot", str(picture)]
    )
    assert result.exit_code == 0, result.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "seed" in result.stdout and "gate" in result.stdout


# -- from Prometheus ------------------------------------------------------------------------------


def matrix(*series):
    return json.dumps(
        {
            "status": "success",
            "data": {
                "resultType": "matrix",
                "result": [{"metric": labels, "values": [[stamp, str(value)] for stamp, value in points]} for labels, points in series],
            },
        }
    ).encode()


def test_replay_and_measure_read_a_range_from_prometheus(exporter):
    from exporter import Answer

    start = int(at(-1).timestamp())
    stamps = [start + 15 * i for i in range(13 * 4)]  # 02:59..02:12 every 15 s
    outage = set(stamps[20:24])  # the exporter was not scraped for a minute: no `up` samples
    up = [(t, 1) for t in stamps if t not in outage]
    resident = [(t, 3 * GiB) for t in stamps if t not in outage]
    own = [(t, int(4.25 * GiB)) for t in stamps[10:30] if t not in outage]
    exporter.by_query['max(up{job="gpu-pod-memory"})'] = Answer(matrix(({}, up)), content_type="application/json")
    exporter.by_query["sum by (namespace, pod, node) (gpu_pod_memory_used_bytes)"] = Answer(
        matrix(
            ({"namespace": "res", "pod": "a-7d9f8b6c5d-x2k4p"}, resident),
            ({"namespace": "tts", "pod": "chatterbox-tts-6b7c9d8f5-h4j7k"}, own),
        ),
        content_type="application/json",
    )
    args = ["--prometheus", exporter.base_url, "--start", "2026-11-12T01:59:00Z", "--end", "2026-11-12T02:12:00Z"]
    replayed = CliRunner().invoke(app, ["replay", *args, "--window", "02:00-02:10", "--timezone", "UTC", "--output", "json"])
    assert replayed.exit_code == 0, replayed.stderr
    [night] = json.loads(replayed.stdout)
    assert night["outages"] == 1 and night["entries"] >= 1
    measured = CliRunner().invoke(app, ["measure", *args, "--output", "json"])
    assert measured.exit_code == 0, measured.stderr
    report = json.loads(measured.stdout)
    assert report["peak_bytes"] == int(4.25 * GiB) and report["held_samples"] == 16
    assert report["floor"] == f"{int(6.25 * 1024)}MiB"


# -- the exporter's faces in the replay ----------------------------------------------------------------

QUIET = str(ROOT / "samples" / "nights" / "quiet.csv")


def replay_json(*args: str) -> dict:
    result = CliRunner().invoke(app, ["replay", QUIET, "--output", "json", *args])
    assert result.exit_code == 0, result.output
    [night] = json.loads(result.stdout)
    return night


def test_replay_models_a_failing_nvidia_smi_and_the_gate_gives_the_card_back():
    clean = replay_json()
    failing = replay_json("--empty-answer", "03:00-03:20")
    assert clean["held_empty_seconds"] == 0 and clean["entries"] == 1
    assert 0 < failing["held_empty_seconds"] <= 25  # one sidecar interval, then the release
    assert failing["entries"] == 2  # back after the fault
    # The operator's word that an empty answer is an idle card: held straight through.
    assert replay_json("--empty-answer", "03:00-03:20", "--empty-is-idle")["held_empty_seconds"] == 20 * 60


def test_replay_models_the_exporters_label_lag_and_the_start_up_grace():
    assert replay_json()["entries"] == 1
    self_evicting = replay_json("--startup-grace", "0s")
    assert self_evicting["entries"] > 20 and self_evicting["bake_seconds"] == 0
    assert replay_json("--startup-grace", "0s", "--exporter-lag", "0s")["entries"] == 1


def test_replay_of_dcgm_alone_and_of_a_device_beside_the_exporter_do_not_flap():
    assert replay_json("--source", "dcgm")["entries"] == 1
    assert replay_json("--device-source", "dcgm")["entries"] == 1
    # Without the own-peak presumption dcgm alone yields to the server's own memory all night.
    assert replay_json("--source", "dcgm", "--own-peak", "0MiB")["entries"] > 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "nvml"], "invalid replayed source 'nvml'"),
        (
            ["--source", "dcgm", "--device-source", "dcgm"],
            "second opinion beside a per-pod source; --source 'dcgm' is device-level already",
        ),
        (["--device-source", "dcgm-exporter"], "invalid device source 'dcgm-exporter'"),
        (["--empty-answer", "03:00-25:00"], "03:00-25:00"),
        (["--exporter-lag", "soon"], "invalid duration 'soon'"),
    ],
)
def test_replay_refuses_bad_exporter_models_with_one_line(args, message):
    result = CliRunner().invoke(app, ["replay", QUIET, *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


# -- the chart's shapes and demand in the replay ------------------------------------------------------


def test_replay_counts_job_pods_for_each_shape_of_the_chart():
    assert replay_json()["job_pods"] == 50  # window-up, 48 guards, window-down
    assert replay_json("--controller-interval", "0", "--sidecar-interval", "0")["job_pods"] == 50
    assert replay_json("--reentry-schedule", "1-59 2-5 * * *", "--controller-interval", "0")["job_pods"] == 286


def test_replay_with_a_queue_gives_the_card_back_when_it_empties():
    def idle(*args: str) -> tuple[int, int, int]:
        result = CliRunner().invoke(app, ["replay", QUIET, "-o", "json", "--demand", str(ROOT / "samples" / "demand" / "quiet.csv"), *args])
        nights = json.loads(result.stdout)  # work queued at 01:58 is the night before's, by the window's reckoning
        return tuple(sum(n[key] for n in nights) for key in ("held_idle_seconds", "empty_stretches", "entries"))

    assert idle() == (600, 2, 2)  # idle-after (5m) per stretch; in at 01:58 (work waiting) and at 04:30
    assert idle("--demand-idle-after", "1m") == (120, 2, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when,queued\n", "expected the header timestamp,queued"),
        ("timestamp,queued\n2026-11-12T02:00:00Z,many\n", "line 2: expected a time and a whole number"),
        ("timestamp,queued\n", "no rows"),
    ],
)
def test_replay_refuses_a_bad_queue_trace_with_one_line(tmp_path, text, message):
    path = tmp_path / "queue.csv"
    path.write_text(text)
    result = CliRunner().invoke(app, ["replay", QUIET, "--demand", str(path)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
