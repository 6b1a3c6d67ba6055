"""One set of defaults: the gate's (gate/settings.py's table, gate/defaults.py) are the chart's (chart/values.yaml, and the
schedules the chart derives from them, as the real Helm engine renders them)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import yaml
from helm import CHART, by_kind, documents, render

from gate import defaults, policy
from gate import settings as gate_settings
from gate.cron import chart_schedules
from gate.settings import SETTINGS, parse, patterns, policy_settings
from gate.settings.chart import SCHEMA_COMMENT, chart_table, schema_with_settings

VALUES = yaml.safe_load((Path(__file__).resolve().parent.parent / "chart" / "values.yaml").read_text())


def test_the_gate_and_the_chart_share_their_defaults():
    """Every setting's default in chart/values.yaml is the table's (logFormat differs on purpose:
    the pods log JSON, a terminal reads text; the row says so)."""
    gate = VALUES["gate"]
    for setting in SETTINGS:
        node = gate
        for part in setting.key.split("."):
            node = node[part]
        assert node == setting.chart_value, setting.key
    assert [s.key for s in SETTINGS if s.chart_default is not None] == ["logFormat"]
    assert (VALUES["server"]["name"], gate["sidecar"]["metricsPort"], gate["controller"]["metricsPort"]) == (
        defaults.DEPLOYMENT,
        defaults.METRICS_PORT,
        defaults.METRICS_PORT,
    )


def test_the_policys_settings_default_to_the_tables():
    """policy.Settings keeps defaults only as the table's values (tests build it by hand)."""
    parsed = parse(gate_settings.defaults(), {}, None).values
    built = policy_settings(parsed, "tts", defaults.DEPLOYMENT)
    bare = policy.Settings(namespace="tts", deployment=defaults.DEPLOYMENT, floor_bytes=parsed["floor"])
    for field in dataclasses.fields(policy.Settings):
        if field.default is not dataclasses.MISSING:
            if field.name in ("total_bytes", "window"):
                continue  # the policy's "none"; the table's defaults are a T4 and a night
            assert getattr(bare, field.name) == getattr(built, field.name), field.name


def test_the_charts_copy_of_the_table_is_current():
    """chart/files/gate-settings.json, which the templates refuse bad values with, is generated
    (`make settings`)."""
    assert json.loads((CHART / "files" / "gate-settings.json").read_text()) == chart_table()


def test_the_schema_carries_each_settings_rule_from_the_table():
    """values.schema.json's node for each setting is generated from its row (`make settings`):
    its type, its pattern (the gate's own, gate/settings/patterns.py) or its choices, its bound;
    every setting is required and no other key is allowed under gate or its groups."""
    text = (CHART / "values.schema.json").read_text()
    assert json.loads(text) == schema_with_settings(json.loads(text)), "run `make settings`"
    gate = json.loads(text)["properties"]["gate"]
    assert gate["additionalProperties"] is False
    for setting in SETTINGS:
        node, parent = gate, gate
        for part in setting.key.split("."):
            parent, node = node, node["properties"][part]
        assert node["$comment"] == SCHEMA_COMMENT and node["description"] == setting.help, setting.key
        assert setting.key.split(".")[-1] in parent["required"] and parent["additionalProperties"] is False, setting.key
        if setting.kind == gate_settings.Kind.BOOL:
            assert node["type"] == "boolean", setting.key
        elif setting.choices:
            assert node["enum"][: len(setting.choices)] == list(setting.choices), setting.key
        else:
            assert node.get("pattern") == patterns.pattern(setting), setting.key


def test_the_chart_refuses_a_device_source_beside_a_device_level_one_in_the_gates_words():
    """Helm cannot call Python: templates/_settings.tpl writes the sentence itself, with the
    chart's names; it must be the gate's (`settings.device_beside_per_pod`)."""
    template = (CHART / "templates" / "_settings.tpl").read_text()
    assert gate_settings.device_beside_per_pod("gate.device.source:", "%q", "gate.source", "%q") in template


def test_the_rendered_default_schedules_are_the_gates():
    """The chart derives the schedules from gate.window; what it renders with defaults is what
    `gate replay` and the benchmark simulate."""
    assert chart_schedules(parse(gate_settings.defaults(), {}, None).values["window"]) == (
        defaults.WINDOW_UP_SCHEDULE,
        defaults.GUARD_SCHEDULE,
        defaults.WINDOW_DOWN_SCHEDULE,
    )
    cronjobs = {c["metadata"]["name"]: c["spec"] for c in by_kind(documents(render({})), "CronJob")}
    assert {name: spec["schedule"] for name, spec in cronjobs.items() if not spec.get("suspend")} == {
        "tts-window-up": defaults.WINDOW_UP_SCHEDULE,
        "tts-guard": defaults.GUARD_SCHEDULE,
        "tts-window-down": defaults.WINDOW_DOWN_SCHEDULE,
    }
    assert {spec["timeZone"] for spec in cronjobs.values()} == {gate_settings.BY_KEY["timeZone"].default}
