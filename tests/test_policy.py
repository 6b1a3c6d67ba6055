"""The policy as tables: every rule, over plain data, no sockets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gate.policy import (
    ENTERED_AT,
    ENTRY_UNATTRIBUTED,
    IDLE_SINCE,
    OVER_BUDGET_AT,
    OVER_BUDGET_YIELDS,
    PAUSED,
    ROOM_SINCE,
    TRY_UNTIL,
    YIELD_STREAK,
    YIELDED_AT,
    Blind,
    Demand,
    DemandSettings,
    DeviceReading,
    GateState,
    PodUsage,
    Reading,
    Reason,
    Settings,
    assess,
    cooldown,
    decide_down,
    decide_guard,
    decide_preflight,
    decide_tick,
    is_own,
    step,
)
from gate.units import parse_window

GiB = 2**30
MiB = 2**20
T4 = 15360 * MiB
LONDON = ZoneInfo("Europe/London")
NIGHT = datetime(2026, 11, 12, 2, 30, tzinfo=UTC)  # 02:30 GMT, inside 02:00-06:00
DAY = datetime(2026, 11, 12, 14, 0, tzinfo=UTC)
OWN = PodUsage("tts", "chatterbox-tts-6b7c9d8f5-h4j7k", int(4.5 * GiB))


def settings(**overrides) -> Settings:
    values = dict(
        namespace="tts",
        deployment="chatterbox-tts",
        floor_bytes=6 * GiB,
        total_bytes=T4,
        window=parse_window("02:00-06:00", LONDON),
        cooldown_seconds=120,
        max_age_seconds=60,
    )
    values.update(overrides)
    return Settings(**values)


def residents(*gib: float) -> tuple[PodUsage, ...]:
    return tuple(PodUsage(f"ns{i}", f"resident-{i}-abc12-xyz34", int(g * GiB)) for i, g in enumerate(gib))


def reading(*gib: float, own: bool = False, at: datetime = NIGHT, **kwargs) -> Reading:
    pods = residents(*gib) + ((OWN,) if own else ())
    return Reading(pods=pods, sampled_at=at, **kwargs)


# -- who is a resident --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "pod", "own"),
    [
        ("tts", "chatterbox-tts-6b7c9d8f5-h4j7k", True),
        ("tts", "chatterbox-tts-5d4f8c7b9-x2k4p", True),
        ("other", "chatterbox-tts-6b7c9d8f5-h4j7k", False),  # same name, another namespace
        ("tts", "chatterbox-tts-test-abcde", False),  # a helm test pod, not a ReplicaSet's
        ("tts", "chatterbox-tts-window-up-29123456-x2k4p", False),  # a CronJob's pod
        ("tts", "chatterbox-tts", False),
        ("tts", "unknown", False),
    ],
)
def test_own_pods_are_the_deployments_replicaset_pods(namespace, pod, own):
    assert is_own(PodUsage(namespace, pod, GiB), settings()) is own


def test_own_usage_is_excluded_from_residents():
    view = assess(reading(3.0, own=True), settings(), NIGHT)
    assert view.resident_bytes == 3 * GiB
    assert view.own_bytes == OWN.used_bytes
    assert view.free_bytes == T4 - 3 * GiB


def test_unattributed_memory_counts_as_a_residents():
    view = assess(reading(3.0, unattributed_bytes=GiB), settings(), NIGHT)
    assert view.resident_bytes == 4 * GiB


# -- blindness -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observation", "config", "expected"),
    [
        (Blind("metrics from x: connection refused"), {}, "connection refused"),
        (reading(3.0, at=NIGHT - timedelta(seconds=61)), {}, "stale"),
        (reading(20.0), {}, "wrong unit"),
        (reading(3.0), {"total_bytes": None}, "GATE_TOTAL"),
    ],
)
def test_blind_views(observation, config, expected):
    view = assess(observation, settings(**config), NIGHT)
    assert view.blind
    assert expected in view.blind_reason
    assert view.free_bytes is None


def test_an_idle_card_is_not_blind():
    view = assess(Reading(pods=(), sampled_at=NIGHT), settings(), NIGHT)
    assert not view.blind
    assert view.free_bytes == T4


def test_device_total_is_used_when_none_is_configured():
    view = assess(reading(3.0, device_total_bytes=T4), settings(total_bytes=None), NIGHT)
    assert view.total_bytes == T4


def test_configured_total_wins_over_the_device():
    view = assess(reading(3.0, device_total_bytes=16 * GiB), settings(total_bytes=T4), NIGHT)
    assert view.total_bytes == T4


# -- preflight ------------------------------------------------------------------------------------

YIELD = NIGHT - timedelta(minutes=10)
# What an entry at NIGHT records: when, and the memory no pod was named for then.
ENTRY = {ENTERED_AT: "2026-11-12T02:30:00Z", ENTRY_UNATTRIBUTED: "0"}


@pytest.mark.parametrize(
    ("case", "observation", "state", "now", "reason", "replicas", "annotations"),
    [
        ("room in the window", reading(3.0), GateState(0), NIGHT, Reason.ENTERED, 1, ENTRY),
        ("exactly the floor is room", reading(9.0), GateState(0), NIGHT, Reason.ENTERED, 1, ENTRY),
        (
            "a byte short of the floor",
            Reading(pods=(PodUsage("a", "b-c1234-d5678", 9 * GiB + 1),), sampled_at=NIGHT),
            GateState(0),
            NIGHT,
            Reason.NO_ROOM,
            None,
            {},
        ),
        ("no room", reading(6.0, 4.0), GateState(0), NIGHT, Reason.NO_ROOM, None, {}),
        ("outside the window", reading(3.0), GateState(0), DAY, Reason.OUT_OF_WINDOW, None, {}),
        ("blind", Blind("metrics from x: HTTP 503"), GateState(0), NIGHT, Reason.BLIND, None, {}),
        ("already up", reading(12.0), GateState(1), NIGHT, Reason.ALREADY_UP, None, {}),
        ("already up and blind", Blind("x"), GateState(1), NIGHT, Reason.ALREADY_UP, None, {}),
        (
            "first room after a yield starts the clock",
            reading(3.0),
            GateState(0, yielded_at=YIELD, yield_streak=1),
            NIGHT,
            Reason.COOLING_DOWN,
            None,
            {ROOM_SINCE: "2026-11-12T02:30:00Z"},
        ),
        (
            "room for less than the stable period",
            reading(3.0),
            GateState(0, yielded_at=YIELD, yield_streak=1, room_since=NIGHT - timedelta(seconds=119)),
            NIGHT,
            Reason.COOLING_DOWN,
            None,
            {},
        ),
        (
            "room for the stable period re-enters and clears the state",
            reading(3.0),
            GateState(0, yielded_at=YIELD, yield_streak=1, room_since=NIGHT - timedelta(seconds=120)),
            NIGHT,
            Reason.ENTERED,
            1,
            {YIELDED_AT: None, ROOM_SINCE: None, **ENTRY},
        ),
        (
            "losing room restarts the clock",
            reading(10.0),
            GateState(0, yielded_at=YIELD, yield_streak=1, room_since=NIGHT - timedelta(seconds=60)),
            NIGHT,
            Reason.NO_ROOM,
            None,
            {ROOM_SINCE: None},
        ),
        (
            "after a yield, room within the hysteresis is not enough",
            reading(8.75),
            GateState(0, yielded_at=YIELD, yield_streak=1),
            NIGHT,
            Reason.COOLING_DOWN,
            None,
            {},
        ),
        (
            "after a yield, room within the hysteresis restarts the clock",
            reading(8.75),
            GateState(0, yielded_at=YIELD, yield_streak=1, room_since=NIGHT - timedelta(seconds=600)),
            NIGHT,
            Reason.COOLING_DOWN,
            None,
            {ROOM_SINCE: None},
        ),
        ("without a yield the floor alone decides", reading(8.75), GateState(0), NIGHT, Reason.ENTERED, 1, ENTRY),
        (
            "a room clock in the future (the clock jumped back) starts again now",
            reading(3.0),
            GateState(0, yielded_at=YIELD, yield_streak=1, room_since=NIGHT + timedelta(hours=3)),
            NIGHT,
            Reason.COOLING_DOWN,
            None,
            {ROOM_SINCE: "2026-11-12T02:30:00Z"},
        ),
        (
            "blindness restarts the clock",
            Blind("x"),
            GateState(0, yielded_at=YIELD, yield_streak=1, room_since=NIGHT - timedelta(seconds=60)),
            NIGHT,
            Reason.BLIND,
            None,
            {ROOM_SINCE: None},
        ),
    ],
)
def test_preflight(case, observation, state, now, reason, replicas, annotations):
    view = assess(observation, settings(), now)
    decision = decide_preflight(view, state, settings())
    assert (decision.reason, decision.replicas, dict(decision.annotations)) == (reason, replicas, annotations), case


def test_preflight_without_a_window_runs_any_time():
    view = assess(reading(3.0, at=DAY), settings(window=None), DAY)
    assert decide_preflight(view, GateState(0), settings(window=None)).reason == Reason.ENTERED


def test_preflight_refusals_are_refusals():
    view = assess(reading(12.0), settings(), NIGHT)
    assert decide_preflight(view, GateState(0), settings()).refused
    view = assess(reading(3.0), settings(), NIGHT)
    assert not decide_preflight(view, GateState(0), settings()).refused


# -- guard ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "observation", "state", "now", "reason", "replicas", "annotations"),
    [
        # The seed's flaw: 16 GiB - (6 + own 4.5) = 5.5 < 6 evicted itself. Residents alone leave 9 GiB.
        ("own usage does not evict itself", reading(6.0, own=True), GateState(1), NIGHT, Reason.HOLDING, None, {}),
        (
            "a resident wakes",
            reading(6.0, 4.0, own=True),
            GateState(1),
            NIGHT,
            Reason.NO_ROOM,
            0,
            {YIELDED_AT: "2026-11-12T02:30:00Z", YIELD_STREAK: "1"},
        ),
        (
            "blind while holding yields",
            Blind("metrics from x: timeout"),
            GateState(1),
            NIGHT,
            Reason.BLIND,
            0,
            {YIELDED_AT: "2026-11-12T02:30:00Z", YIELD_STREAK: "1"},
        ),
        (
            "stale while holding yields",
            reading(3.0, own=True, at=NIGHT - timedelta(minutes=5)),
            GateState(1),
            NIGHT,
            Reason.BLIND,
            0,
            {YIELDED_AT: "2026-11-12T02:30:00Z", YIELD_STREAK: "1"},
        ),
        (
            "out of the window yields without a cool-down",
            reading(3.0, own=True, at=DAY),
            GateState(1),
            DAY,
            Reason.OUT_OF_WINDOW,
            0,
            {},
        ),
        ("not holding does nothing", reading(14.0), GateState(0), NIGHT, Reason.NOT_HOLDING, None, {}),
        ("not holding and blind does nothing", Blind("x"), GateState(0), NIGHT, Reason.NOT_HOLDING, None, {}),
        (
            "a yield clears a stale room clock",
            reading(12.0),
            GateState(1, room_since=YIELD),
            NIGHT,
            Reason.NO_ROOM,
            0,
            {YIELDED_AT: "2026-11-12T02:30:00Z", YIELD_STREAK: "1", ROOM_SINCE: None},
        ),
    ],
)
def test_guard(case, observation, state, now, reason, replicas, annotations):
    view = assess(observation, settings(), now)
    decision = decide_guard(view, state, settings())
    assert (decision.reason, decision.replicas, dict(decision.annotations)) == (reason, replicas, annotations), case


def test_preflight_and_guard_ask_the_same_question():
    """For any residents, preflight enters exactly when a guard holding the card would hold."""
    for tenth_gib in range(0, 160):
        observation = reading(tenth_gib / 10)
        view = assess(observation, settings(), NIGHT)
        entered = decide_preflight(view, GateState(0), settings()).reason == Reason.ENTERED
        held = decide_guard(view, GateState(1), settings()).reason == Reason.HOLDING
        assert entered == held, tenth_gib


# -- down -----------------------------------------------------------------------------------------


def test_down_scales_to_zero_and_clears_the_state():
    decision = decide_down(GateState(1, yielded_at=YIELD))
    assert (decision.reason, decision.replicas, dict(decision.annotations)) == (Reason.WINDOW_END, 0, {YIELDED_AT: None})


def test_down_at_zero_changes_no_replicas():
    decision = decide_down(GateState(0))
    assert (decision.reason, decision.replicas, dict(decision.annotations)) == (Reason.ALREADY_DOWN, None, {})


def test_state_annotations_that_cannot_be_read_are_ignored():
    state = GateState.from_annotations(0, {YIELDED_AT: "yesterday", ROOM_SINCE: "2026-11-12T02:00:00Z"})
    assert state.yielded_at is None
    assert state.room_since == datetime(2026, 11, 12, 2, 0, tzinfo=UTC)


# -- an empty answer, a device's second opinion ---------------------------------------------------

EMPTY = Reading(sampled_at=NIGHT, empty=True)


def device(used_gib: float, reserved_gib: float = 0.0, total: int = T4) -> DeviceReading:
    return DeviceReading(total_bytes=total, used_bytes=int(used_gib * GiB), reserved_bytes=int(reserved_gib * GiB), sampled_at=NIGHT)


@pytest.mark.parametrize(
    ("case", "observation", "config", "blind_cause", "resident_gib"),
    [
        ("alone, an empty answer is blind: a failed nvidia-smi looks the same", EMPTY, {}, "lists no GPU process", None),
        ("the operator says the card idles", EMPTY, {"empty_is_idle": True}, None, 0.0),
        ("a device that agrees the card is idle", Reading(empty=True, device=device(0.0, 0.44)), {}, None, 0.44),
        ("a device under the context slack still counts", Reading(empty=True, device=device(0.2)), {}, None, 0.2),
        ("a device that sees memory held", Reading(empty=True, device=device(4.0)), {}, "nvidia-smi is failing", None),
        ("the device sees more than the per-pod answer: counted", reading(3.0, device=device(8.0)), {}, None, 8.0),
        ("the per-pod answer sees more than the device: counted", reading(8.0, device=device(3.0)), {}, None, 8.0),
        ("own memory is not counted from the device either", reading(3.0, own=True, device=device(7.5)), {}, None, 3.0),
    ],
)
def test_empty_answers_and_the_device_opinion(case, observation, config, blind_cause, resident_gib):
    view = assess(observation, settings(**config), NIGHT)
    if blind_cause:
        assert view.blind and blind_cause in view.blind_reason, case
    else:
        assert not view.blind, (case, view.blind_reason)
        assert view.resident_bytes == pytest.approx(resident_gib * GiB, abs=1), case


def test_the_device_total_wins_when_smaller_than_the_configured_one():
    view = assess(reading(3.0, device=device(3.0, total=T4 - GiB)), settings(total_bytes=T4), NIGHT)
    assert view.total_bytes == T4 - GiB


def test_a_stale_device_reading_is_blind():
    stale = DeviceReading(total_bytes=T4, used_bytes=3 * GiB, sampled_at=NIGHT - timedelta(minutes=5))
    assert "stale" in (assess(reading(3.0, device=stale), settings(), NIGHT).blind_reason or "")


# -- the own pod's start-up: the exporter labels it unknown for a while ----------------------------

ENTERED = GateState(1, entered_at=NIGHT - timedelta(seconds=60), entry_unattributed_bytes=int(0.1 * GiB))


def starting(*gib: float, unknown: float) -> Reading:
    return Reading(pods=residents(*gib), unattributed_bytes=int(unknown * GiB), sampled_at=NIGHT)


@pytest.mark.parametrize(
    ("case", "observation", "state", "reason"),
    [
        ("new unlabelled memory in the grace is the server's", starting(4.6, unknown=4.6), ENTERED, Reason.HOLDING),
        ("a resident waking in the grace still wins", starting(4.6, 5.0, unknown=4.6), ENTERED, Reason.NO_ROOM),
        (
            "after the grace, unlabelled memory is a resident's again",
            starting(4.6, unknown=4.6),
            GateState(1, entered_at=NIGHT - timedelta(minutes=4), entry_unattributed_bytes=int(0.1 * GiB)),
            Reason.NO_ROOM,
        ),
        ("without an entry record nothing is presumed", starting(4.6, unknown=4.6), GateState(1), Reason.NO_ROOM),
        (
            "an entry clock in the future presumes nothing",
            starting(4.6, unknown=4.6),
            GateState(1, entered_at=NIGHT + timedelta(minutes=1), entry_unattributed_bytes=0),
            Reason.NO_ROOM,
        ),
    ],
)
def test_start_up_grace(case, observation, state, reason):
    view = assess(observation, settings(), NIGHT, state)
    assert decide_guard(view, state, settings()).reason == reason, (case, view)


def test_unlabelled_memory_beyond_the_floor_is_a_residents():
    view = assess(starting(2.0, unknown=0.1 + 6 + 3), settings(), NIGHT, ENTERED)
    assert view.presumed_own_bytes == 6 * GiB
    assert view.resident_bytes == pytest.approx((2.0 + 0.1 + 3) * GiB, abs=4)


def test_the_presumed_start_up_memory_is_reported_as_own():
    view = assess(starting(4.6, unknown=4.6), settings(), NIGHT, ENTERED)
    assert (view.presumed_own_bytes, view.own_bytes) == (int(4.5 * GiB), int(4.5 * GiB))
    assert view.resident_bytes == int(4.6 * GiB) + int(0.1 * GiB)


def test_the_grace_is_subtracted_from_the_device_figure_too():
    observation = Reading(pods=residents(4.6), unattributed_bytes=int(4.6 * GiB), sampled_at=NIGHT, device=device(9.2))
    view = assess(observation, settings(), NIGHT, ENTERED)
    assert decide_guard(view, ENTERED, settings()).reason == Reason.HOLDING


def test_entry_records_the_unattributed_baseline_and_every_yield_clears_it():
    view = assess(starting(4.6, unknown=0.25), settings(), NIGHT)
    entered = decide_preflight(view, GateState(0), settings())
    assert entered.annotations == {ENTERED_AT: "2026-11-12T02:30:00Z", ENTRY_UNATTRIBUTED: str(int(0.25 * GiB))}
    state = GateState.from_annotations(1, {k: v for k, v in entered.annotations.items() if v})
    assert (state.entered_at, state.entry_unattributed_bytes) == (NIGHT, int(0.25 * GiB))
    crowded = assess(reading(12.0), settings(), NIGHT, state)
    assert decide_guard(crowded, state, settings()).annotations == {
        ENTERED_AT: None,
        ENTRY_UNATTRIBUTED: None,
        YIELDED_AT: "2026-11-12T02:30:00Z",
        YIELD_STREAK: "1",
    }
    assert decide_down(state).annotations == {ENTERED_AT: None, ENTRY_UNATTRIBUTED: None}


# -- sources that attribute nothing (dcgm, nvidia-smi alone) ----------------------------------------


def device_only(used_gib: float) -> Reading:
    return Reading(unattributed_bytes=int(used_gib * GiB), device_total_bytes=T4, sampled_at=NIGHT, attributes=False)


HELD = GateState(1, entered_at=NIGHT - timedelta(hours=1), entry_unattributed_bytes=int(4.6 * GiB))


@pytest.mark.parametrize(
    ("case", "used_gib", "reason"),
    [
        ("only the server grew: the card keeps the room it had at entry", 4.6 + 4.5, Reason.HOLDING),
        ("a resident grows past what the server can be", 4.6 + 4.5 + 5.0, Reason.NO_ROOM),
        ("residents shrank: never less than the entry baseline is presumed", 2.0 + 4.5, Reason.HOLDING),
    ],
)
def test_a_device_level_source_does_not_yield_to_the_servers_own_memory(case, used_gib, reason):
    view = assess(device_only(used_gib), settings(total_bytes=None), NIGHT, HELD)
    assert decide_guard(view, HELD, settings(total_bytes=None)).reason == reason, (case, view)


def test_a_device_level_source_presumes_no_more_than_the_own_peak():
    view = assess(device_only(4.6 + 8.0), settings(total_bytes=None, own_peak_bytes=4 * GiB), NIGHT, HELD)
    assert view.presumed_own_bytes == 4 * GiB


# -- demand: tripit's queue ---------------------------------------------------------------------

DEMAND = {"demand": DemandSettings(idle_after_seconds=300)}
WORK, EMPTY_QUEUE, UNKNOWN = Demand(27), Demand(0), Demand(None, "demand from tripit: HTTP 404 Not Found")
NOON = datetime(2026, 11, 12, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("case", "now", "demand", "config", "reason"),
    [
        ("work waiting takes the card at any hour", NOON, WORK, DEMAND, Reason.ENTERED),
        ("an empty queue does not, even in the window", NIGHT, EMPTY_QUEUE, DEMAND, Reason.NO_WORK),
        ("an unknown demand in the window falls back to the window", NIGHT, UNKNOWN, DEMAND, Reason.ENTERED),
        ("an unknown demand outside it is no action", NOON, UNKNOWN, DEMAND, Reason.OUT_OF_WINDOW),
        (
            "work waiting outside demand's hours waits",
            NOON,
            WORK,
            {"demand": DemandSettings(window=parse_window("20:00-23:00", LONDON))},
            Reason.OUT_OF_WINDOW,
        ),
        ("without demand configured a reading is ignored", NOON, WORK, {}, Reason.OUT_OF_WINDOW),
        ("a resident's need wins over waiting work", NOON, WORK, DEMAND, Reason.NO_ROOM),
    ],
)
def test_preflight_with_demand(case, now, demand, config, reason):
    observation = reading(10.0, at=now) if "resident" in case else reading(3.0, at=now)
    view = assess(observation, settings(**config), now)
    assert decide_preflight(view, GateState(0), settings(**config), demand).reason == reason, case


HOLDING = GateState(1, entered_at=NIGHT - timedelta(hours=1), entry_unattributed_bytes=0)


def guard_with(demand, state=HOLDING, now=NIGHT, gib=3.0):
    view = assess(reading(gib, own=True, at=now), settings(**DEMAND), now, state)
    return decide_guard(view, state, settings(**DEMAND), demand)


def test_an_empty_queue_starts_the_idle_clock_and_gives_the_card_back_after_idle_after():
    first = guard_with(EMPTY_QUEUE)
    assert (first.reason, first.replicas, first.annotations) == (Reason.HOLDING, None, {IDLE_SINCE: "2026-11-12T02:30:00Z"})
    state = GateState(1, idle_since=NIGHT)
    assert guard_with(EMPTY_QUEUE, state, NIGHT + timedelta(seconds=299)).reason == Reason.HOLDING
    done = guard_with(EMPTY_QUEUE, state, NIGHT + timedelta(seconds=300))
    assert (done.reason, done.replicas, done.annotations) == (Reason.IDLE, 0, {IDLE_SINCE: None})


def test_a_failed_probe_never_idles_the_server_and_keeps_the_idle_clock():
    state = GateState(1, idle_since=NIGHT - timedelta(hours=1))
    decision = guard_with(UNKNOWN, state)
    assert (decision.reason, decision.replicas, decision.annotations) == (Reason.HOLDING, None, {})
    # Outside the window too: no action on a failed probe, the card stays where it is.
    assert guard_with(UNKNOWN, state, NOON).reason == Reason.HOLDING


def test_work_waiting_clears_the_idle_clock_and_holds_outside_the_window():
    state = GateState(1, idle_since=NIGHT - timedelta(minutes=4))
    assert guard_with(WORK, state).annotations == {IDLE_SINCE: None}
    assert guard_with(WORK, GateState(1), NOON).reason == Reason.HOLDING


def test_with_demand_a_resident_still_gets_the_card_back():
    assert guard_with(WORK, gib=10.0).reason == Reason.NO_ROOM


# -- the window's last minutes, the kill switch ----------------------------------------------------


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (datetime(2026, 11, 12, 5, 54, 59, tzinfo=UTC), Reason.ENTERED),
        (datetime(2026, 11, 12, 5, 55, 0, tzinfo=UTC), Reason.ENTERED),
        (datetime(2026, 11, 12, 5, 55, 1, tzinfo=UTC), Reason.WINDOW_ENDING),
        (datetime(2026, 7, 12, 4, 58, 0, tzinfo=UTC), Reason.WINDOW_ENDING),  # 05:58 BST
    ],
)
def test_no_entry_in_the_windows_last_minutes(now, reason):
    view = assess(reading(3.0, at=now), settings(), now)
    assert decide_preflight(view, GateState(0), settings()).reason == reason


def test_work_waiting_may_start_in_the_windows_last_minutes_when_demand_may_take_it_after():
    now = datetime(2026, 11, 12, 5, 58, tzinfo=UTC)
    view = assess(reading(3.0, at=now), settings(**DEMAND), now)
    assert decide_preflight(view, GateState(0), settings(**DEMAND), WORK).reason == Reason.ENTERED


def test_the_tick_guards_while_holding_and_enters_while_not():
    view = assess(reading(3.0), settings(), NIGHT)
    assert decide_tick(view, GateState(0), settings()).reason == Reason.ENTERED
    assert decide_tick(view, GateState(1), settings()).reason == Reason.HOLDING


@pytest.mark.parametrize(
    ("command", "state", "expected"),
    [
        ("preflight", GateState(0), ("preflight", Reason.ENTERED)),
        ("preflight", GateState(1), ("preflight", Reason.ALREADY_UP)),
        ("guard", GateState(1), ("guard", Reason.HOLDING)),
        ("guard", GateState(0), ("guard", Reason.NOT_HOLDING)),
        ("tick", GateState(0), ("preflight", Reason.ENTERED)),
        ("tick", GateState(1), ("guard", Reason.HOLDING)),
        ("down", GateState(1), ("down", Reason.WINDOW_END)),
        ("down", GateState(0), ("down", Reason.ALREADY_DOWN)),
    ],
)
def test_one_step_chooses_each_commands_decider(command, state, expected):
    """`policy.step` is where the live commands, the controller, `status` and the replay get
    their decider: each command's is the one its own function gives."""
    view = assess(reading(3.0), settings(), NIGHT)
    decision = step(command, view, state, settings())
    assert (decision.command, decision.reason) == expected
    if command == "down":
        assert step(command, None, state, settings()) == decision  # down looks at no metrics


def test_one_step_refuses_an_unknown_command_and_a_missing_view():
    with pytest.raises(ValueError, match="invalid command 'up': expected one of preflight, guard, down, tick"):
        step("up", assess(reading(3.0), settings(), NIGHT), GateState(0), settings())
    with pytest.raises(ValueError, match="guard decides from a view"):
        step("guard", None, GateState(1), settings())


def test_the_kill_switch_gives_the_card_back_and_never_takes_it():
    view = assess(reading(3.0), settings(), NIGHT)
    paused = decide_tick(view, GateState(1, yielded_at=YIELD), settings(enabled=False))
    assert (paused.command, paused.reason, paused.replicas, paused.annotations) == ("down", Reason.PAUSED, 0, {YIELDED_AT: None})
    assert decide_tick(view, GateState(0), settings(enabled=False)).replicas is None


@pytest.mark.parametrize(
    ("state", "enabled"),
    [(GateState(0, paused=True), True), (GateState(0), False), (GateState(0, paused=True), False)],
    ids=["lease", "settings", "both"],
)
def test_either_switch_pauses_every_decider(state, enabled):
    """Paused (the Lease's tts.gate/paused, or enabled: false): preflight and the tick never
    take the card, and holding it, the guard and the tick give it back, with no cool-down."""
    view = assess(reading(3.0), settings(), NIGHT)
    paused = settings(enabled=enabled)
    for decision in (decide_preflight(view, state, paused), decide_tick(view, state, paused)):
        assert (decision.reason, decision.replicas) == (Reason.PAUSED, None)
    holding = replace(state, replicas=1)
    for decision in (decide_guard(view, holding, paused), decide_tick(view, holding, paused)):
        assert (decision.reason, decision.replicas) == (Reason.PAUSED, 0)
        assert YIELDED_AT not in decision.annotations
    assert decide_guard(view, GateState(0, paused=True), paused).reason == Reason.NOT_HOLDING


def test_the_lease_switch_is_read_with_the_state():
    assert GateState.from_annotations(0, {PAUSED: "true"}).paused
    assert not GateState.from_annotations(0, {PAUSED: "false"}).paused
    assert not GateState.from_annotations(0, {}).paused


# -- the adaptive cool-down -------------------------------------------------------------------------

ADAPTIVE = dict(cooldown_seconds=10, cooldown_max_seconds=120)


@pytest.mark.parametrize(
    ("case", "annotations", "seconds"),
    [
        ("an isolated yield: the first cool-down", {YIELDED_AT: "2026-11-12T02:20:00Z", YIELD_STREAK: "1"}, 10),
        ("the second in a row doubles it", {YIELDED_AT: "2026-11-12T02:20:00Z", YIELD_STREAK: "2"}, 20),
        ("the fourth", {YIELDED_AT: "2026-11-12T02:20:00Z", YIELD_STREAK: "4"}, 80),
        ("the fifth reaches the cap", {YIELDED_AT: "2026-11-12T02:20:00Z", YIELD_STREAK: "5"}, 120),
        ("a huge streak is the cap, not an overflow", {YIELDED_AT: "2026-11-12T02:20:00Z", YIELD_STREAK: "9" * 400}, 120),
        ("no streak after a yield (an older gate, a lost key): the longest", {YIELDED_AT: "2026-11-12T02:20:00Z"}, 120),
        ("an unreadable streak: the longest", {YIELDED_AT: "2026-11-12T02:20:00Z", YIELD_STREAK: "two"}, 120),
        ("a zero streak is unreadable: the longest", {YIELDED_AT: "2026-11-12T02:20:00Z", YIELD_STREAK: "0"}, 120),
        ("a negative streak is unreadable: the longest", {YIELDED_AT: "2026-11-12T02:20:00Z", YIELD_STREAK: "-1"}, 120),
    ],
)
def test_the_cool_down_doubles_with_the_streak_up_to_the_cap(case, annotations, seconds):
    assert cooldown(GateState.from_annotations(0, annotations), settings(**ADAPTIVE)) == seconds, case


def test_a_cap_below_the_first_cool_down_is_a_fixed_one():
    fixed = settings(cooldown_seconds=120, cooldown_max_seconds=0)
    assert [cooldown(GateState(0, yielded_at=YIELD, yield_streak=n), fixed) for n in (1, 2, 9, None)] == [120] * 4


def test_preflight_waits_the_streaks_cool_down():
    state = GateState(0, yielded_at=YIELD, yield_streak=3, room_since=NIGHT - timedelta(seconds=39))
    view = assess(reading(3.0), settings(**ADAPTIVE), NIGHT)
    waiting = decide_preflight(view, state, settings(**ADAPTIVE))
    assert (waiting.reason, "40s" in waiting.message, "yield 3 in a row" in waiting.message) == (Reason.COOLING_DOWN, True, True)
    later = assess(reading(3.0, at=NIGHT + timedelta(seconds=1)), settings(**ADAPTIVE), NIGHT + timedelta(seconds=1))
    entered = decide_preflight(later, state, settings(**ADAPTIVE))
    assert entered.reason == Reason.ENTERED
    assert YIELD_STREAK not in entered.annotations  # the streak outlives the entry: the next yield reads it


@pytest.mark.parametrize(
    ("case", "state", "streak"),
    [
        (
            "a wake cutting a 2-minute hold short continues the streak",
            GateState(1, entered_at=NIGHT - timedelta(minutes=2), yield_streak=2),
            "3",
        ),
        ("the first yield of the night after a short hold", GateState(1, entered_at=NIGHT - timedelta(minutes=2)), "1"),
        (
            "a hold of 5 minutes was a quiet stretch: the streak starts again",
            GateState(1, entered_at=NIGHT - timedelta(minutes=5), yield_streak=4),
            "1",
        ),
        ("a hold of unknown length continues it (the longer cool-down)", GateState(1, yield_streak=2), "3"),
        ("an entry clock in the future continues it", GateState(1, entered_at=NIGHT + timedelta(minutes=9), yield_streak=1), "2"),
        ("the streak stops growing at the cap", GateState(1, entered_at=NIGHT - timedelta(minutes=1), yield_streak=5), "5"),
    ],
)
def test_a_no_room_yield_counts_the_streak(case, state, streak):
    view = assess(reading(12.0), settings(**ADAPTIVE), NIGHT)
    decision = decide_guard(view, state, settings(**ADAPTIVE))
    assert (decision.reason, decision.annotations[YIELD_STREAK]) == (Reason.NO_ROOM, streak), case


def test_a_blind_yield_counts_the_streak_too():
    decision = decide_guard(assess(Blind("x"), settings(**ADAPTIVE), NIGHT), GateState(1, yield_streak=1), settings(**ADAPTIVE))
    assert (decision.reason, decision.annotations[YIELD_STREAK]) == (Reason.BLIND, "2")


def test_an_idle_yield_ends_the_streak_and_the_windows_end_clears_the_night():
    demand = settings(demand=DemandSettings(idle_after_seconds=300))
    state = GateState(1, idle_since=NIGHT - timedelta(minutes=6), yield_streak=3, over_budget_yields=1, over_budget_at=NIGHT)
    idle = decide_guard(assess(reading(3.0, own=True), demand, NIGHT), state, demand, Demand(0))
    assert idle.reason == Reason.IDLE
    assert idle.annotations == {IDLE_SINCE: None, YIELD_STREAK: None}  # tonight's over-budget count stays
    night_over = {YIELD_STREAK: None, OVER_BUDGET_YIELDS: None, OVER_BUDGET_AT: None}
    assert decide_down(state).annotations == {IDLE_SINCE: None, **night_over}
    ended = decide_guard(assess(reading(3.0, own=True, at=DAY), settings(), DAY), state, settings())
    assert (ended.reason, dict(ended.annotations)) == (Reason.OUT_OF_WINDOW, {IDLE_SINCE: None, **night_over})


# -- the server's budget ----------------------------------------------------------------------------


def own(gib: float, at: datetime = NIGHT) -> Reading:
    return Reading(pods=residents(4.6) + (PodUsage(OWN.namespace, OWN.pod, int(gib * GiB)),), sampled_at=at)


PAST_GRACE = GateState(1, entered_at=NIGHT - timedelta(minutes=10), entry_unattributed_bytes=0)
BUDGET = 6 * GiB - 256 * MiB


@pytest.mark.parametrize(
    ("case", "observation", "state", "reason"),
    [
        ("the measured peak is within budget", own(4.5), PAST_GRACE, Reason.HOLDING),
        (
            "exactly the floor less the slack is within budget",
            Reading(pods=(PodUsage(OWN.namespace, OWN.pod, BUDGET),), sampled_at=NIGHT),
            PAST_GRACE,
            Reason.HOLDING,
        ),
        (
            "a byte more is over",
            Reading(pods=(PodUsage(OWN.namespace, OWN.pod, BUDGET + 1),), sampled_at=NIGHT),
            PAST_GRACE,
            Reason.OVER_BUDGET,
        ),
        ("grown to 7 GiB after the grace", own(7.0), PAST_GRACE, Reason.OVER_BUDGET),
        (
            "in the start-up grace, own memory is not judged",
            own(7.0),
            GateState(1, entered_at=NIGHT - timedelta(minutes=2)),
            Reason.HOLDING,
        ),
        ("an entry of unknown time has no grace", own(7.0), GateState(1), Reason.OVER_BUDGET),
        ("an entry clock in the future has no grace", own(7.0), GateState(1, entered_at=NIGHT + timedelta(minutes=1)), Reason.OVER_BUDGET),
        (
            "over budget and a resident waking: the budget is named",
            Reading(pods=residents(4.6, 4.45) + (PodUsage(OWN.namespace, OWN.pod, int(5.9 * GiB)),), sampled_at=NIGHT),
            PAST_GRACE,
            Reason.OVER_BUDGET,
        ),
        ("blind: the blind yield", Blind("x"), PAST_GRACE, Reason.BLIND),
    ],
)
def test_the_guard_holds_the_server_to_its_budget(case, observation, state, reason):
    view = assess(observation, settings(), NIGHT, state)
    decision = decide_guard(view, state, settings())
    assert decision.reason == reason, (case, view.own_bytes)
    if reason == Reason.OVER_BUDGET:
        assert decision.replicas == 0
        assert "gate measure" in decision.message


def test_the_second_over_budget_yield_bars_the_card_for_the_night():
    first = decide_guard(assess(own(7.0), settings(), NIGHT, PAST_GRACE), PAST_GRACE, settings())
    assert {k: first.annotations[k] for k in (OVER_BUDGET_YIELDS, OVER_BUDGET_AT, YIELDED_AT)} == {
        OVER_BUDGET_YIELDS: "1",
        OVER_BUDGET_AT: "2026-11-12T02:30:00Z",
        YIELDED_AT: "2026-11-12T02:30:00Z",
    }
    out = GateState.from_annotations(0, {k: v for k, v in first.annotations.items() if v is not None})
    # One over-budget yield: re-entry after the cool-down, like any yield; the count survives the entry.
    later = NIGHT + timedelta(minutes=5)
    room = assess(reading(3.0, at=later), settings(), later)
    entered = decide_preflight(room, replace(out, room_since=later - timedelta(minutes=3)), settings())
    assert entered.reason == Reason.ENTERED and OVER_BUDGET_YIELDS not in entered.annotations
    held = GateState(1, entered_at=later, yield_streak=out.yield_streak, over_budget_yields=1, over_budget_at=NIGHT)
    then = later + timedelta(minutes=10)
    second = decide_guard(assess(own(7.0, at=then), settings(), then, held), held, settings())
    assert (second.reason, second.annotations[OVER_BUDGET_YIELDS]) == (Reason.OVER_BUDGET, "2")
    assert "will not take the card again tonight" in second.message
    barred = GateState.from_annotations(0, {k: v for k, v in second.annotations.items() if v is not None})
    for minutes in (11, 60, 11 * 60):  # room, cool-down long past, any hour of the night
        now = then + timedelta(minutes=minutes)
        refused = decide_preflight(assess(reading(3.0, at=now), settings(window=None), now), barred, settings(window=None))
        assert (refused.reason, refused.replicas, refused.refused) == (Reason.OVER_BUDGET, None, True), minutes
    # With no window nothing ends the night: the bar lifts 12 hours after the last over-budget yield.
    tomorrow = then + timedelta(hours=12)
    view = assess(reading(3.0, at=tomorrow), settings(window=None), tomorrow)
    assert (
        decide_preflight(view, replace(barred, room_since=tomorrow - timedelta(minutes=3)), settings(window=None)).reason == Reason.ENTERED
    )
    # And a new over-budget yield after that counts from 1 again.
    fresh = GateState(1, entered_at=tomorrow - timedelta(minutes=10), over_budget_yields=2, over_budget_at=then)
    again = decide_guard(assess(own(7.0, at=tomorrow), settings(window=None), tomorrow, fresh), fresh, settings(window=None))
    assert again.annotations[OVER_BUDGET_YIELDS] == "1"


def test_the_bar_waits_for_the_windows_end_and_down_lifts_it():
    barred = GateState(0, over_budget_yields=2, over_budget_at=NIGHT)
    assert decide_preflight(assess(reading(3.0), settings(), NIGHT), barred, settings()).reason == Reason.OVER_BUDGET
    cleared = GateState.from_annotations(0, {k: v for k, v in decide_down(barred).annotations.items() if v is not None})
    assert cleared.over_budget_yields == 0
    tomorrow = NIGHT + timedelta(days=1)
    assert decide_preflight(assess(reading(3.0, at=tomorrow), settings(), tomorrow), cleared, settings()).reason == Reason.ENTERED


@pytest.mark.parametrize(
    ("annotations", "count"),
    [
        ({OVER_BUDGET_YIELDS: "2", OVER_BUDGET_AT: "2026-11-12T02:30:00Z"}, 2),
        ({OVER_BUDGET_YIELDS: "2"}, 0),  # no time: it could never expire with no window, so none
        ({OVER_BUDGET_YIELDS: "2", OVER_BUDGET_AT: "tonight"}, 0),
        ({OVER_BUDGET_YIELDS: "twice", OVER_BUDGET_AT: "2026-11-12T02:30:00Z"}, 0),
        ({OVER_BUDGET_YIELDS: "\u0662", OVER_BUDGET_AT: "2026-11-12T02:30:00Z"}, 0),  # a digit, but not an ASCII one
    ],
)
def test_the_over_budget_count_reads_only_with_its_time(annotations, count):
    assert GateState.from_annotations(0, annotations).over_budget_yields == count


# -- time: a stored timer is trusted only when sane ------------------------------------------------


def test_a_clock_jump_restarts_the_cool_down_and_the_idle_timer():
    """A jump the caller saw (its wall clock against its monotonic clock) restarts the stored
    timers as a wake would; a stored time in the future does too. The policy reads the jump as
    data: it reads no clock."""
    s = settings()
    cooling = GateState(0, yielded_at=YIELD, yield_streak=1, room_since=NIGHT - timedelta(seconds=600))
    steady = assess(reading(3.0), s, NIGHT)
    assert decide_preflight(steady, cooling, s).reason == Reason.ENTERED  # 10 minutes of room: past the 2 min cool-down
    jumped = assess(reading(3.0), s, NIGHT, clock_jump_seconds=3600)
    restarted = decide_preflight(jumped, cooling, s)
    assert (restarted.reason, restarted.replicas, restarted.annotations) == (
        Reason.COOLING_DOWN,
        None,
        {ROOM_SINCE: "2026-11-12T02:30:00Z"},
    )
    assert "the timer restarts: the wall clock jumped 1h" in restarted.message
    future = replace(cooling, room_since=NIGHT + timedelta(minutes=5))
    assert "the timer restarts: it was stamped 5m00s in the future" in decide_preflight(steady, future, s).message
    # The idle timer: an hour of empty queue across a jump is not an hour.
    idle = GateState(1, idle_since=NIGHT - timedelta(hours=1))
    view = assess(reading(3.0, own=True), settings(**DEMAND), NIGHT, idle, clock_jump_seconds=3600)
    held = decide_guard(view, idle, settings(**DEMAND), EMPTY_QUEUE)
    assert (held.reason, held.replicas, held.annotations) == (Reason.HOLDING, None, {IDLE_SINCE: "2026-11-12T02:30:00Z"})


def test_a_hold_measured_across_a_clock_jump_counts_as_short():
    """A yield after a jump cannot tell how long the server held the card: the streak goes on
    (the longer cool-down), as for a hold of unknown length."""
    s = settings(**ADAPTIVE)
    entered = GateState(1, entered_at=NIGHT - timedelta(hours=1), yield_streak=2)
    crowded = reading(10.0, own=True)
    long_hold = decide_guard(assess(crowded, s, NIGHT, entered), entered, s)
    assert long_hold.annotations[YIELD_STREAK] == "1"  # an hour held: an isolated wake
    jumped = decide_guard(assess(crowded, s, NIGHT, entered, clock_jump_seconds=3600), entered, s)
    assert jumped.annotations[YIELD_STREAK] == "3"


# -- a try (gate try): the window open now, every other rule holding ------------------------------

# DAY is 14:00 GMT, outside 02:00-06:00; a 15-minute try from then.
TRY_END = DAY + timedelta(minutes=15)


def tried(replicas: int = 0, until: datetime | str = TRY_END, **fields) -> GateState:
    """A state whose Lease holds a try (an instant, or a value as an operator wrote it)."""
    value = until if isinstance(until, str) else until.strftime("%Y-%m-%dT%H:%M:%SZ")
    return replace(GateState.from_annotations(replicas, {TRY_UNTIL: value}), **fields)


def try_decision(command, observation, state, now=DAY, config=None, demand=None):
    config = config or settings()
    return step(command, assess(observation, config, now, state), state, config, demand)


@pytest.mark.parametrize(
    ("case", "command", "observation", "state", "now", "reason", "replicas"),
    [
        ("a try outside the window enters with room", "preflight", reading(3.0, at=DAY), tried(), DAY, Reason.ENTERED, 1),
        ("not without room", "preflight", reading(6.0, 4.0, at=DAY), tried(), DAY, Reason.NO_ROOM, None),
        ("not blind", "preflight", Blind("metrics from x: HTTP 503"), tried(), DAY, Reason.BLIND, None),
        ("a pause wins", "preflight", reading(3.0, at=DAY), tried(paused=True), DAY, Reason.PAUSED, None),
        ("a pause wins in the tick too", "tick", reading(3.0, at=DAY), tried(1, paused=True), DAY, Reason.PAUSED, 0),
        (
            "the cool-down holds",
            "preflight",
            reading(3.0, at=DAY),
            tried(yielded_at=DAY - timedelta(seconds=30), yield_streak=1, room_since=DAY - timedelta(seconds=30)),
            DAY,
            Reason.COOLING_DOWN,
            None,
        ),
        (
            "the over-budget bar holds",
            "preflight",
            reading(3.0, at=DAY),
            tried(over_budget_yields=2, over_budget_at=DAY - timedelta(minutes=1)),
            DAY,
            Reason.OVER_BUDGET,
            None,
        ),
        ("holding, the try keeps the card", "guard", reading(3.0, own=True, at=DAY), tried(1), DAY, Reason.HOLDING, None),
        ("the tick holds it too", "tick", reading(3.0, own=True, at=DAY), tried(1), DAY, Reason.HOLDING, None),
        ("a resident still wins", "guard", reading(10.0, own=True, at=DAY), tried(1), DAY, Reason.NO_ROOM, 0),
        ("blind still yields", "guard", Blind("timeout"), tried(1), DAY, Reason.BLIND, 0),
        (
            "its last second is the try's",
            "guard",
            reading(3.0, own=True, at=TRY_END),
            tried(1),
            TRY_END - timedelta(seconds=1),
            Reason.HOLDING,
            None,
        ),
        ("the try's end gives the card back", "guard", reading(3.0, own=True, at=TRY_END), tried(1), TRY_END, Reason.OUT_OF_WINDOW, 0),
        ("the tick gives it back too", "tick", reading(3.0, own=True, at=TRY_END), tried(1), TRY_END, Reason.OUT_OF_WINDOW, 0),
        ("and takes nothing after it", "preflight", reading(3.0, at=TRY_END), tried(), TRY_END, Reason.OUT_OF_WINDOW, None),
    ],
)
def test_a_try_opens_the_window_and_nothing_else(case, command, observation, state, now, reason, replicas):
    decision = try_decision(command, observation, state, now)
    assert (decision.reason, decision.replicas) == (reason, replicas), (case, decision.message)


def test_a_try_says_so_when_it_enters_and_when_it_ends():
    entered = try_decision("preflight", reading(3.0, at=DAY), tried())
    assert entered.message.endswith("; a try holds the window open until 2026-11-12T14:15:00Z")
    assert entered.annotations == {ENTERED_AT: "2026-11-12T14:00:00Z", ENTRY_UNATTRIBUTED: "0"}  # the try is the operator's
    ended = try_decision("guard", reading(3.0, own=True, at=TRY_END), tried(1, yield_streak=2), TRY_END)
    assert ended.message == "yielding the card, outside the window (02:00-06:00 Europe/London); the try ended at 2026-11-12T14:15:00Z"
    # As at the window's end: no cool-down, the night cleared, the try left for `status` to show.
    assert ended.annotations == {YIELD_STREAK: None}


@pytest.mark.parametrize(
    ("left", "reason"),
    [
        (timedelta(minutes=5), Reason.ENTERED),
        (timedelta(minutes=4, seconds=59), Reason.WINDOW_ENDING),
        (timedelta(seconds=10), Reason.WINDOW_ENDING),
    ],
)
def test_the_entry_margin_counts_from_the_trys_end(left, reason):
    decision = try_decision("preflight", reading(3.0, at=DAY), tried(until=DAY + left))
    assert decision.reason == reason
    if reason == Reason.WINDOW_ENDING:
        assert decision.message.startswith("the try ends in ")


def test_inside_the_window_the_margin_counts_from_the_windows_end_which_ends_a_try():
    """Window-down ends a try with the night (`down` removes it), so a try past the window's end
    does not make its last minutes an entry's."""
    late = datetime(2026, 11, 12, 5, 58, tzinfo=UTC)
    decision = try_decision("preflight", reading(3.0, at=late), tried(until=late + timedelta(minutes=30)), late)
    assert (decision.reason, decision.message[:28]) == (Reason.WINDOW_ENDING, "the window ends in 2m00s, wi")


@pytest.mark.parametrize(
    ("case", "now", "reason"),
    [("outside the window", DAY, Reason.ENTERED), ("inside it", NIGHT, Reason.ENTERED)],
)
def test_a_queue_at_0_does_not_stop_a_try(case, now, reason):
    state = tried(until=now + timedelta(minutes=15))
    decision = try_decision("preflight", reading(3.0, at=now), state, now, settings(**DEMAND), EMPTY_QUEUE)
    assert decision.reason == reason, case
    # Without the try the queue decides: nothing to bake.
    assert try_decision("preflight", reading(3.0, at=now), GateState(0), now, settings(**DEMAND), EMPTY_QUEUE).reason in (
        Reason.NO_WORK,
        Reason.OUT_OF_WINDOW,
    )


def test_a_try_holds_the_card_past_idle_after_and_the_idle_rule_resumes_at_its_end():
    """The idle timer runs through the try (the alert's reading of the queue agrees), so at the
    try's end inside the window the card goes back at once."""
    config = settings(**DEMAND)
    state = tried(1, until=NIGHT + timedelta(minutes=15), idle_since=NIGHT - timedelta(minutes=20))
    held = try_decision("guard", reading(3.0, own=True), state, NIGHT, config, EMPTY_QUEUE)
    assert (held.reason, held.replicas, held.annotations) == (Reason.HOLDING, None, {})
    after = NIGHT + timedelta(minutes=15)
    idle = try_decision("guard", reading(3.0, own=True, at=after), state, after, config, EMPTY_QUEUE)
    assert (idle.reason, idle.replicas) == (Reason.IDLE, 0)
    # A try that starts the idle clock still starts it.
    fresh = tried(1, until=NIGHT + timedelta(minutes=15))
    started = try_decision("guard", reading(3.0, own=True), fresh, NIGHT, config, EMPTY_QUEUE)
    assert started.annotations == {IDLE_SINCE: "2026-11-12T02:30:00Z"}


@pytest.mark.parametrize(
    ("case", "value", "honoured", "ignored"),
    [
        ("an hour ahead", "2026-11-12T15:00:00Z", True, None),
        ("an hour and the clocks' slack ahead", "2026-11-12T15:05:00Z", True, None),
        ("a second more", "2026-11-12T15:05:01Z", False, "1h05m01s ahead, more than a try lasts (1h00m00s; ignored)"),
        ("a year ahead", "2027-11-12T14:15:00Z", False, "ahead, more than a try lasts"),
        ("written with an offset, as `date -Iseconds` does", "2026-11-12T15:15:00+01:00", True, None),
        ("not a time", "15m", False, "tts.gate/try-until value '15m' is not an RFC 3339 instant (ignored)"),
        ("no offset", "2026-11-12T14:15:00", False, "is not an RFC 3339 instant"),
        ("past Python's last instant", "9999-12-31T23:00:00-05:00", False, "is not an RFC 3339 instant"),
        ("empty", "", False, "value '' is not an RFC 3339 instant"),
        ("over", "2026-11-12T13:59:59Z", False, None),
    ],
)
def test_a_try_until_that_is_unreadable_or_too_far_ahead_is_ignored(case, value, honoured, ignored):
    state = tried(until=value)
    view = assess(reading(3.0, at=DAY), settings(), DAY, state)
    assert (view.try_until is not None, view.in_window) == (honoured, honoured), case
    decision = decide_preflight(view, state, settings())
    assert decision.reason == (Reason.ENTERED if honoured else Reason.OUT_OF_WINDOW), case
    if ignored:
        assert ignored in view.try_ignored and ignored in decision.message, (case, decision.message)
    else:
        assert view.try_ignored is None


def test_the_windows_end_ends_a_try_and_a_pause_does_not():
    for replicas, reason in ((1, Reason.WINDOW_END), (0, Reason.ALREADY_DOWN)):
        down = decide_down(tried(replicas))
        assert (down.reason, down.annotations.get(TRY_UNTIL, "kept")) == (reason, None)
        assert "tts.gate/try-until removed (the window's end ends a try)" in down.message
    assert decide_down(tried(until="junk")).annotations == {TRY_UNTIL: None}  # an unreadable one goes too
    assert TRY_UNTIL not in decide_down(tried(1), ("enabled: false in the settings",)).annotations
    assert TRY_UNTIL not in decide_down(GateState(1)).annotations


def test_a_try_widens_nothing_without_a_window_but_the_queue():
    """No window: the window is always open; a try matters only where a queue reads 0, and then
    the margin counts from its end."""
    config = settings(window=None, **DEMAND)
    state = tried(until=DAY + timedelta(minutes=15))
    assert try_decision("preflight", reading(3.0, at=DAY), state, DAY, config, EMPTY_QUEUE).reason == Reason.ENTERED
    assert try_decision("preflight", reading(3.0, at=DAY), state, DAY, settings(window=None)).reason == Reason.ENTERED
    short = tried(until=DAY + timedelta(minutes=4))
    assert try_decision("preflight", reading(3.0, at=DAY), short, DAY, config, EMPTY_QUEUE).reason == Reason.WINDOW_ENDING
    assert try_decision("preflight", reading(3.0, at=DAY), short, DAY, settings(window=None)).reason == Reason.ENTERED
