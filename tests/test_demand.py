"""The demand probe against a loopback tripit: only an explicit count is a reading."""

from __future__ import annotations

import pytest
from exporter import Answer

from gate.policy import Demand
from gate.sources.demand import DemandConfig, read

JSON = "application/json"


@pytest.mark.parametrize(
    ("case", "answer", "expected"),
    [
        ("a count", Answer(b'{"queued": 27}', content_type=JSON), Demand(27)),
        ("an explicit zero", Answer(b'{"queued": 0, "baked": 412}', content_type=JSON), Demand(0)),
    ],
)
def test_an_explicit_count_is_a_reading(exporter, case, answer, expected):
    exporter.answers["/api/tour/tts-queue"] = answer
    assert read(DemandConfig(exporter.base_url + "/api/tour/tts-queue", timeout_seconds=0.5)) == expected, case


@pytest.mark.parametrize(
    ("case", "answer", "problem"),
    [
        ("an older tripit: 404", Answer(b"Not Found", status=404), "HTTP 404"),
        ("an error", Answer(b"", status=502), "HTTP 502"),
        ("a timeout", Answer(b'{"queued": 0}', delay_seconds=1.0), "no answer within 0.5s"),
        ("a dropped connection", Answer(b"", drop=True), "demand from"),
        ("not JSON", Answer(b"<html>maintenance</html>"), "not JSON"),
        ("no such field", Answer(b'{"pending": 0}'), "no 'queued' field"),
        ("not an object", Answer(b"[0]"), "no 'queued' field"),
        ("a negative count", Answer(b'{"queued": -1}'), "not a count"),
        ("a fraction", Answer(b'{"queued": 0.5}'), "not a count"),
        ("a string", Answer(b'{"queued": "0"}'), "not a count"),
        ("a boolean", Answer(b'{"queued": false}'), "not a count"),
        ("null", Answer(b'{"queued": null}'), "not a count"),
    ],
)
def test_a_probe_that_fails_in_any_way_is_no_reading(exporter, case, answer, problem):
    exporter.answers["/q"] = answer
    demand = read(DemandConfig(exporter.base_url + "/q", timeout_seconds=0.5))
    assert demand.queued is None, case
    assert problem in (demand.problem or ""), (case, demand.problem)


def test_nothing_listening_is_no_reading():
    demand = read(DemandConfig("http://127.0.0.1:9/api/tour/tts-queue", timeout_seconds=0.5))
    assert demand.queued is None and "connection refused" in (demand.problem or "")


def test_the_field_is_configurable(exporter):
    exporter.answers["/q"] = Answer(b'{"waiting": 3}')
    assert read(DemandConfig(exporter.base_url + "/q", field="waiting")) == Demand(3)
