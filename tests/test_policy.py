"""The policy as tables: every rule, over plain data, no sockets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gate.policy import (
    ROOM_SINCE,
    YIELDED_AT,
    Blind,
    GateState,
    PodUsage,
    Reading,
    Reason,
    Settings,
    assess,
    decide_down,
    decide_guard,
    decide_preflight,
    is_own,
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
        stable_seconds=120,
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


@pytest.mark.parametrize(
    ("case", "observation", "state", "now", "reason", "replicas", "annotations"),
    [
        ("room in the window", reading(3.0), GateState(0), NIGHT, Reason.ENTERED, 1, {}),
        ("exactly the floor is room", reading(9.0), GateState(0), NIGHT, Reason.ENTERED, 1, {}),
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
            GateState(0, yielded_at=YIELD),
            NIGHT,
            Reason.COOLING_DOWN,
            None,
            {ROOM_SINCE: "2026-11-12T02:30:00Z"},
        ),
        (
            "room for less than the stable period",
            reading(3.0),
            GateState(0, yielded_at=YIELD, room_since=NIGHT - timedelta(seconds=119)),
            NIGHT,
            Reason.COOLING_DOWN,
            None,
            {},
        ),
        (
            "room for the stable period re-enters and clears the state",
            reading(3.0),
            GateState(0, yielded_at=YIELD, room_since=NIGHT - timedelta(seconds=120)),
            NIGHT,
            Reason.ENTERED,
            1,
            {YIELDED_AT: None, ROOM_SINCE: None},
        ),
        (
            "losing room restarts the clock",
            reading(10.0),
            GateState(0, yielded_at=YIELD, room_since=NIGHT - timedelta(seconds=60)),
            NIGHT,
            Reason.NO_ROOM,
            None,
            {ROOM_SINCE: None},
        ),
        (
            "after a yield, room within the hysteresis is not enough",
            reading(8.75),
            GateState(0, yielded_at=YIELD),
            NIGHT,
            Reason.COOLING_DOWN,
            None,
            {},
        ),
        (
            "after a yield, room within the hysteresis restarts the clock",
            reading(8.75),
            GateState(0, yielded_at=YIELD, room_since=NIGHT - timedelta(seconds=600)),
            NIGHT,
            Reason.COOLING_DOWN,
            None,
            {ROOM_SINCE: None},
        ),
        ("without a yield the floor alone decides", reading(8.75), GateState(0), NIGHT, Reason.ENTERED, 1, {}),
        (
            "a room clock in the future (the clock jumped back) starts again now",
            reading(3.0),
            GateState(0, yielded_at=YIELD, room_since=NIGHT + timedelta(hours=3)),
            NIGHT,
            Reason.COOLING_DOWN,
            None,
            {ROOM_SINCE: "2026-11-12T02:30:00Z"},
        ),
        (
            "blindness restarts the clock",
            Blind("x"),
            GateState(0, yielded_at=YIELD, room_since=NIGHT - timedelta(seconds=60)),
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
            {YIELDED_AT: "2026-11-12T02:30:00Z"},
        ),
        (
            "blind while holding yields",
            Blind("metrics from x: timeout"),
            GateState(1),
            NIGHT,
            Reason.BLIND,
            0,
            {YIELDED_AT: "2026-11-12T02:30:00Z"},
        ),
        (
            "stale while holding yields",
            reading(3.0, own=True, at=NIGHT - timedelta(minutes=5)),
            GateState(1),
            NIGHT,
            Reason.BLIND,
            0,
            {YIELDED_AT: "2026-11-12T02:30:00Z"},
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
            {YIELDED_AT: "2026-11-12T02:30:00Z", ROOM_SINCE: None},
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
