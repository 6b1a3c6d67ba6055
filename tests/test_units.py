from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gate.units import InvalidValue, parse_duration, parse_instant, parse_size, parse_timezone, parse_window

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6GiB", 6 * 2**30),
        ("6144MiB", 6 * 2**30),
        ("15360MiB", 15 * 2**30),
        ("0MiB", 0),
        ("1.5GiB", 3 * 2**29),
        ("6Gi", 6 * 2**30),
        ("512Ki", 2**19),
    ],
)
def test_sizes_parse_to_bytes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "six", "6 gigs", "-1GiB", "6GIB", "1e9", "6 GiB GiB", "nan", "4096", "6.5", "0", "6.5GB", "6GB", "6 GiB", " 2GiB", "2GiB "],
)
def test_bad_sizes_name_the_value_and_what_was_expected(text):
    with pytest.raises(InvalidValue) as error:
        parse_size(text)
    assert repr(text) in str(error.value)
    assert "expected" in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10s", 10), ("5m", 300), ("1h", 3600), ("1m30s", 90), ("500ms", 0.5), ("90", 90), ("0.5", 0.5)],
)
def test_durations_parse_to_seconds(text, expected):
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "ten", "10x", "5 m", "-5s", "s10", "1m 30s", " 5m", "5m "])
def test_bad_durations_are_refused(text):
    with pytest.raises(InvalidValue, match="expected a number of seconds"):
        parse_duration(text)


@pytest.mark.parametrize(
    "text", ["2-6", "02:00", "24:00-06:00", "02:60-06:00", "02:00-02:00", "2am-6am", "", " 02:00-06:00", "02:00 - 06:00"]
)
def test_bad_windows_are_refused(text):
    with pytest.raises(InvalidValue, match="window"):
        parse_window(text, LONDON)


def test_unknown_time_zone_is_refused():
    with pytest.raises(InvalidValue, match="Mars/Olympus"):
        parse_timezone("Mars/Olympus")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "instant", "inside"),
    [
        # GMT in November: local = UTC.
        ("02:00-06:00", "2026-11-12T01:59:59", False),
        ("02:00-06:00", "2026-11-12T02:00:00", True),  # the first second
        ("02:00-06:00", "2026-11-12T05:59:59", True),  # the last second
        ("02:00-06:00", "2026-11-12T06:00:00", False),
        # BST in July: 02:00 local is 01:00 UTC.
        ("02:00-06:00", "2026-07-12T00:59:59", False),
        ("02:00-06:00", "2026-07-12T01:00:00", True),
        ("02:00-06:00", "2026-07-12T04:59:59", True),
        ("02:00-06:00", "2026-07-12T05:00:00", False),
        # Spring forward, 2026-03-29: 01:00 GMT jumps to 02:00 BST. 01:00 UTC is 02:00 local.
        ("02:00-06:00", "2026-03-29T00:59:59", False),
        ("02:00-06:00", "2026-03-29T01:00:00", True),
        ("01:00-02:00", "2026-03-29T00:30:00", False),  # 00:30 local; 01:xx local never happens
        ("01:00-02:00", "2026-03-29T01:30:00", False),  # 02:30 BST
        # Autumn back, 2026-10-25: 02:00 BST falls back to 01:00 GMT; 01:xx local happens twice.
        ("01:00-02:00", "2026-10-25T00:30:00", True),  # 01:30 BST
        ("01:00-02:00", "2026-10-25T01:30:00", True),  # 01:30 GMT, again
        ("02:00-06:00", "2026-10-25T01:59:59", False),  # 01:59:59 GMT
        ("02:00-06:00", "2026-10-25T02:00:00", True),
        # A window across midnight.
        ("22:00-06:00", "2026-11-12T23:00:00", True),
        ("22:00-06:00", "2026-11-12T03:00:00", True),
        ("22:00-06:00", "2026-11-12T12:00:00", False),
    ],
)
def test_window_reads_the_local_wall_clock(window, instant, inside):
    assert parse_window(window, LONDON).contains(utc(instant)) is inside


def test_instants_need_an_offset():
    assert parse_instant("2026-11-12T02:00:00Z") == utc("2026-11-12T02:00:00")
    assert parse_instant("2026-11-12T03:00:00+01:00") == utc("2026-11-12T02:00:00")
    with pytest.raises(InvalidValue, match="offset"):
        parse_instant("2026-11-12T02:00:00")


@pytest.mark.parametrize("text", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
def test_an_instant_past_what_python_holds_in_utc_is_a_refusal_not_an_overflow(text):
    """A Lease annotation such as `tts.gate/yielded-at: 9999-12-31T23:00:00-05:00` raised
    OverflowError, which no reader caught: every run of the gate failed on it."""
    with pytest.raises(InvalidValue, match="outside the years 1-9999 in UTC"):
        parse_instant(text)
    from gate.policy import YIELDED_AT, GateState

    assert GateState.from_annotations(0, {YIELDED_AT: text}).yielded_at is None
