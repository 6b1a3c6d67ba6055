"""Properties, with hypothesis: the policy's invariants over any residents, clock and state; the
parsers over any text; the exposition path over any bytes (a clean error, never a traceback)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gate import policy
from gate.policy import Blind, GateState, PodUsage, Reading, Reason, Settings
from gate.sources import SourceError, dcgm, gpu_pod_exporter, nvidia_gpu_exporter, prometheus
from gate.units import InvalidValue, Window, parse_duration, parse_size, parse_timezone, parse_window

GiB = 2**30
MiB = 2**20
LONDON = parse_timezone("Europe/London")
BOUNDED = settings(max_examples=300, deadline=None)

instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC))
pods = st.lists(
    st.builds(
        PodUsage,
        namespace=st.sampled_from(["tts", "immich", "llama-cpp", "unknown"]),
        pod=st.sampled_from(["chatterbox-tts-6b7c9d8f5-h4j7k", "immich-ml-7d9f8b6c5d-x2k4p", "llama-5c8d7f9b6-q8w2z", "unknown"]),
        used_bytes=st.integers(min_value=0, max_value=16 * GiB),
    ),
    max_size=5,
    unique_by=lambda p: (p.namespace, p.pod),
)
observations = st.one_of(
    st.builds(Blind, reason=st.text(min_size=1, max_size=20)),
    st.builds(Reading, pods=pods.map(tuple), unattributed_bytes=st.integers(0, 4 * GiB), sampled_at=st.none()),
)
windows = st.one_of(
    st.none(),
    st.tuples(st.integers(0, 23), st.integers(0, 23))
    .filter(lambda hh: hh[0] != hh[1])
    .map(lambda hh: parse_window(f"{hh[0]:02d}:00-{hh[1]:02d}:00", LONDON)),
)
gate_settings = st.builds(
    Settings,
    namespace=st.just("tts"),
    deployment=st.just("chatterbox-tts"),
    floor_bytes=st.integers(0, 16 * GiB),
    total_bytes=st.sampled_from([15360 * MiB, 16 * GiB, 8 * GiB]),
    window=windows,
    cooldown_seconds=st.sampled_from([0, 10, 60, 120]),
    cooldown_max_seconds=st.sampled_from([0, 60, 120, 480]),
    hysteresis_bytes=st.sampled_from([0, 512 * MiB]),
)


@st.composite
def states(draw, now):
    yielded = draw(st.one_of(st.none(), st.just(now - timedelta(minutes=draw(st.integers(0, 600))))))
    since = draw(st.one_of(st.none(), st.just(now - timedelta(seconds=draw(st.integers(-600, 600))))))
    entered = draw(st.one_of(st.none(), st.just(now - timedelta(seconds=draw(st.integers(-600, 3600))))))
    over_at = draw(st.one_of(st.none(), st.just(now - timedelta(hours=draw(st.integers(0, 30))))))
    return GateState(
        replicas=draw(st.integers(0, 2)),
        yielded_at=yielded,
        room_since=since,
        entered_at=entered,
        yield_streak=draw(st.one_of(st.none(), st.integers(1, 60))),
        over_budget_yields=draw(st.integers(0, 3)),
        over_budget_at=over_at,
    )


# What a Lease's gate annotations may hold: the gate's own values, and anything a person or a
# broken writer left there.
annotation_text = st.one_of(
    st.text(max_size=12),
    st.integers(-3, 10**6).map(str),
    instants.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")),
)


@BOUNDED
@given(observation=observations, config=gate_settings, now=instants, data=st.data())
def test_preflight_never_takes_the_card_blind_out_of_window_or_without_room(observation, config: Settings, now, data):
    state = data.draw(states(now))
    view = policy.assess(observation, config, now)
    decision = policy.decide_preflight(view, state, config)
    if decision.replicas == 1:
        assert not view.blind
        assert view.in_window
        assert view.total_bytes - view.resident_bytes >= config.floor_bytes
        assert state.replicas == 0


@BOUNDED
@given(observation=observations, config=gate_settings, now=instants, data=st.data())
def test_a_guard_holding_the_card_yields_when_blind_or_without_room(observation, config: Settings, now, data):
    state = data.draw(states(now))
    view = policy.assess(observation, config, now)
    decision = policy.decide_guard(view, state, config)
    if state.replicas >= 1 and (view.blind or not policy.has_room(view, config) or not view.in_window):
        assert decision.replicas == 0
    if decision.reason == Reason.HOLDING:
        assert not view.blind and policy.has_room(view, config)


@BOUNDED
@given(observation=observations, config=gate_settings, now=instants, data=st.data())
def test_holding_means_within_budget_or_in_the_grace(observation, config: Settings, now, data):
    state = data.draw(states(now))
    view = policy.assess(observation, config, now, state)
    decision = policy.decide_guard(view, state, config)
    if decision.reason == Reason.HOLDING:
        since = (now - state.entered_at).total_seconds() if state.entered_at is not None else None
        in_grace = since is not None and 0 <= since < config.startup_grace_seconds
        assert in_grace or view.own_bytes <= config.floor_bytes - policy.OVER_BUDGET_SLACK_BYTES


@BOUNDED
@given(observation=observations, config=gate_settings, now=instants, data=st.data())
def test_two_over_budget_yields_tonight_keep_the_card_from_preflight(observation, config: Settings, now, data):
    state = data.draw(states(now))
    decision = policy.decide_preflight(policy.assess(observation, config, now), state, config)
    if decision.replicas == 1:
        recent = state.over_budget_at is not None and (now - state.over_budget_at).total_seconds() < policy.OVER_BUDGET_NIGHT_SECONDS
        assert not (recent and state.over_budget_yields >= policy.OVER_BUDGET_LIMIT)


@BOUNDED
@given(config=gate_settings, keys=st.dictionaries(st.sampled_from(sorted(policy.STATE_KEYS)), annotation_text))
def test_any_annotations_read_as_a_state_whose_cool_down_is_bounded(config: Settings, keys):
    """Unreadable is absent, and an absent streak after a yield is the longest cool-down: never
    shorter than the streak's readable values could give, never an error, never past the cap."""
    state = GateState.from_annotations(0, keys)
    wait = policy.cooldown(state, config)
    shortest, longest = config.cooldown_seconds, max(config.cooldown_seconds, config.cooldown_max_seconds)
    assert shortest <= wait <= longest
    if state.yield_streak is None:
        assert wait == longest
    assert state.over_budget_yields >= 0


@BOUNDED
@given(config=gate_settings, streak=st.integers(1, 200))
def test_the_cool_down_never_shrinks_as_the_streak_grows(config: Settings, streak):
    at = lambda n: policy.cooldown(GateState(0, yield_streak=n), config)  # noqa: E731
    assert at(streak) <= at(streak + 1)


@BOUNDED
@given(observation=observations, config=gate_settings, now=instants, data=st.data())
def test_every_yield_that_starts_a_cool_down_records_a_streak(observation, config: Settings, now, data):
    state = data.draw(states(now))
    decision = policy.decide_guard(policy.assess(observation, config, now, state), state, config)
    if decision.annotations.get(policy.YIELDED_AT):
        streak = decision.annotations[policy.YIELD_STREAK]
        assert streak is not None and int(streak) >= 1


@BOUNDED
@given(observation=observations, config=gate_settings, now=instants)
def test_own_usage_never_changes_the_decision(observation, config: Settings, now):
    """The server's own memory is not a resident's: adding or removing it decides nothing."""
    if isinstance(observation, Blind):
        return
    own = PodUsage("tts", "chatterbox-tts-6b7c9d8f5-h4j7k", 4 * GiB)
    without = Reading(pods=tuple(p for p in observation.pods if not policy.is_own(p, config)))
    with_own = Reading(pods=without.pods + (own,))
    a, b = policy.assess(without, config, now), policy.assess(with_own, config, now)
    if not a.blind and not b.blind:  # more than the card holds is blind by itself
        assert a.free_bytes == b.free_bytes


@BOUNDED
@given(n=st.integers(0, 2**40), unit=st.sampled_from(["KiB", "MiB", "GiB", "TiB", "Ki", "Mi", "Gi", "Ti"]))
def test_sizes_parse_exactly(n, unit):
    factors = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    assert parse_size(f"{n}{unit}") == n * factors[unit]


@BOUNDED
@given(text=st.text(max_size=30))
def test_any_text_is_a_size_or_a_clear_refusal(text):
    try:
        assert parse_size(text) >= 0
    except InvalidValue as error:
        assert repr(text) in str(error) and "\n" not in str(error)


@BOUNDED
@given(text=st.text(max_size=30))
def test_any_text_is_a_duration_or_a_clear_refusal(text):
    try:
        assert parse_duration(text) >= 0
    except InvalidValue as error:
        assert repr(text) in str(error)


@BOUNDED
@given(text=st.text(max_size=30))
def test_any_text_is_a_window_or_a_clear_refusal(text):
    try:
        assert isinstance(parse_window(text, LONDON), Window)
    except InvalidValue as error:
        assert repr(text) in str(error)


@settings(max_examples=500, deadline=None)
@given(body=st.one_of(st.binary(max_size=600), st.text(max_size=600).map(str.encode)))
def test_any_bytes_from_an_exporter_end_in_a_reading_or_a_clean_error(body):
    for parse in (gpu_pod_exporter.parse, dcgm.parse, nvidia_gpu_exporter.parse):
        try:
            reading = parse(body, "fuzz")
        except SourceError as error:
            assert "\n" not in str(error) and "fuzz" in str(error)
        else:
            assert all(p.used_bytes >= 0 for p in reading.pods) and reading.unattributed_bytes >= 0
    try:
        prometheus.parse(body, "fuzz")
    except SourceError as error:
        assert "fuzz" in str(error)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from(["gpu_pod_memory_used_bytes", "gpu_pod_memory_used_bytes_x", "# TYPE gpu_pod_memory_used_bytes gauge"]),
            st.text(alphabet='{}=",az 0129.-+eEINFna#\\', max_size=25),
        ).map("".join),
        max_size=6,
    )
)
def test_near_miss_exposition_text_ends_cleanly(lines):
    with contextlib.suppress(SourceError):
        gpu_pod_exporter.parse(("\n".join(lines) + "\n").encode(), "fuzz")


KEYS = st.sampled_from(["status", "data", "resultType", "result", "metric", "value", "values", "namespace", "pod"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["status", "data", "resultType", "result", "metric", "value", "values", "namespace", "pod"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(document=json_values, result_type=st.sampled_from(["vector", "matrix"]))
def test_any_json_from_prometheus_ends_in_a_reading_or_a_clean_error(document, result_type):
    import json

    body = json.dumps({"status": "success", "data": {"resultType": result_type, "result": document}}).encode()
    for candidate in (body, json.dumps(document).encode()):
        with contextlib.suppress(SourceError):
            prometheus.parse(candidate, "fuzz")
        with contextlib.suppress(SourceError):
            prometheus.parse_matrix(candidate, "fuzz", "q")
