"""One meaning for every value: what chart/values.schema.json accepts for a size, a duration, a
window and a schedule is what the gate accepts, because both carry gate/formats.py's patterns;
the same inputs go through both here. What a pattern cannot say, the gate refuses after matching
and the chart refuses at render: those cases are listed below, each checked at render too."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from helm import render
from helm_python.errors import HelmError

from gate import formats
from gate.cron import parse_cron
from gate.units import InvalidValue, parse_duration, parse_size, parse_window

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "chart" / "values.schema.json").read_text())
LONDON = ZoneInfo("Europe/London")
PARSERS = {
    "size": parse_size,
    "duration": parse_duration,
    "window": lambda text: parse_window(text, LONDON),
    "schedule": parse_cron,
}
CORPUS = {
    "size": [
        "6GiB",
        "6144MiB",
        "1.5Gi",
        "0MiB",
        "15360Mi",
        "6",
        "6.5",
        "4096",
        "6GB",
        "6 GiB",
        "6GiB ",
        " 6GiB",
        "6gib",
        "-1GiB",
        "1e3MiB",
        "",
    ],
    "duration": ["10s", "5m", "1m30s", "500ms", "90", "0.5", "2m ", " 2m", "5 m", "ten", "1d", "-5s", ""],
    "window": [
        "02:00-06:00",
        "2:00-6:00",
        "22:00-04:00",
        "23:59-00:00",
        "24:00-06:00",
        "02:60-06:00",
        " 02:00-06:00",
        "02:00 - 06:00",
        "2am-6am",
        "",
    ],
    "schedule": [
        "0 2 * * *",
        "*/5 2-5 * * *",
        "*/10 22-23,0-3 * * *",
        "0,30 2 1-7 1-12 0-6",
        "@daily",
        "61 * * * *",
        "* 24 * * *",
        "0 2 * * MON",
        "*/0 * * * *",
        "0 2 * *",
        "0  2 * * *",
        "TZ=UTC 0 2 * * *",
        "",
    ],
}
# What the patterns admit and only the meaning refuses: the gate after matching, the chart at render.
MEANING = {
    ("window", "02:00-02:00"): {"gate": {"window": "02:00-02:00"}},
    ("schedule", "5-1 * * * *"): {"gate": {"cronJobs": {"guard": {"schedule": "5-1 * * * *"}}}},
}


def schema_accepts(kind: str, text: str) -> bool:
    validator = jsonschema.Draft7Validator({"definitions": SCHEMA["definitions"], "$ref": f"#/definitions/{kind}"})
    return validator.is_valid(text)


def gate_accepts(kind: str, text: str) -> bool:
    try:
        PARSERS[kind](text)
    except InvalidValue:
        return False
    return True


@pytest.mark.parametrize("kind", sorted(formats.PATTERNS))
def test_the_schema_carries_the_gates_patterns_verbatim(kind):
    assert SCHEMA["definitions"][kind]["pattern"] == formats.PATTERNS[kind]


@pytest.mark.parametrize(("kind", "text"), [(kind, text) for kind, texts in CORPUS.items() for text in texts])
def test_the_schema_and_the_gate_agree(kind, text):
    assert schema_accepts(kind, text) == gate_accepts(kind, text), f"{kind} {text!r}"


@pytest.mark.parametrize(("case", "values"), list(MEANING.items()), ids=[f"{k}:{v}" for k, v in MEANING])
def test_what_only_the_meaning_refuses_the_gate_and_the_render_refuse(case, values):
    kind, text = case
    assert schema_accepts(kind, text) and not gate_accepts(kind, text)
    with pytest.raises(HelmError):
        render(values)


@pytest.mark.parametrize(("key", "value"), [("floor", "0GiB"), ("floor", "6.5"), ("total", "16 GB"), ("window", "02:00 - 06:00")])
def test_the_chart_refuses_at_install_what_the_gate_would_refuse_at_0200(key, value):
    """The schema, generated from the gate's table, names the value's path and the value."""
    with pytest.raises(HelmError) as error:
        render({"gate": {key: value}})
    message = str(error.value).strip()
    assert f"- at '/gate/{key}': " in message and repr(value) in message, message
