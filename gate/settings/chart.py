"""What the chart carries of the table (`make settings`, and tests/test_defaults.py checks both):
files/gate-settings.json, the keys templates/_settings.tpl renders into gate.yaml (one subtree,
with `toYaml`), and values.schema.json's node for each setting: its type, its pattern or its
choices, its bound, its description. The templates keep only what a schema cannot say."""

from __future__ import annotations

import json
from typing import Any

from gate.settings import patterns
from gate.settings.document import API_VERSION
from gate.settings.table import DEVICE_ALIASES, SETTINGS, Kind, Setting
from gate.sources import DEVICE_SOURCE_NAMES

SCHEMA_COMMENT = "generated from gate/settings' table by `make settings`"


def chart_table() -> dict[str, Any]:
    """files/gate-settings.json: the document's apiVersion, its keys (top-level, then by group)
    and the device-level sources the templates' cross-field checks name (their old names too)."""
    keys = [s.key for s in SETTINGS if "." not in s.key]
    groups: dict[str, list[str]] = {}
    for setting in SETTINGS:
        if "." in setting.key:
            group, leaf = setting.key.split(".")
            groups.setdefault(group, []).append(leaf)
    return {
        "generatedBy": "make settings (python -m gate.settings chart)",
        "apiVersion": API_VERSION,
        "keys": keys,
        "groups": groups,
        "deviceLevelSources": [*DEVICE_SOURCE_NAMES, *DEVICE_ALIASES],
    }


def schema_node(setting: Setting) -> dict[str, Any]:
    """One setting's JSON schema: the gate's own rule (patterns.py), not a copy of it."""
    node: dict[str, Any] = {"$comment": SCHEMA_COMMENT, "description": setting.help}
    if setting.kind == Kind.BOOL:
        return {"type": "boolean", **node}
    node = {"type": "string", "maxLength": patterns.longest(setting), **node}
    if setting.choices:
        node["enum"] = [*setting.choices, *setting.old_names, *([""] if setting.empty is not None else [])]
    pattern = patterns.pattern(setting)
    if pattern is not None:
        node["pattern"] = pattern
    if setting.kind == Kind.TEXT and setting.empty is None:
        node["minLength"] = 1
    if setting.positive:
        node["allOf"] = [{"pattern": "[1-9]", "description": "above zero"}]
    return node


def schema_with_settings(schema: dict[str, Any]) -> dict[str, Any]:
    """chart/values.schema.json with each setting's node under gate, every setting required
    (a `null` in values would delete it), and no key under gate or its groups but the table's
    and the chart's own."""
    gate = schema["properties"]["gate"]
    gate["additionalProperties"] = False
    for setting in SETTINGS:
        *parents, leaf = setting.key.split(".")
        node = gate
        for part in parents:
            node = node["properties"].setdefault(part, {"type": "object", "properties": {}})
            node["additionalProperties"] = False
            _require(gate, part)
        node["properties"][leaf] = schema_node(setting)
        _require(node, leaf)
    return schema


def _require(node: dict[str, Any], key: str) -> None:
    required = node.setdefault("required", [])
    if key not in required:
        required.append(key)


def write_chart_files(chart: str) -> None:
    """`make settings`: what the chart carries of the table (tests/test_defaults.py checks both)."""
    with open(f"{chart}/files/gate-settings.json", "w", encoding="utf-8") as handle:
        handle.write(json.dumps(chart_table(), indent=2) + "\n")
    with open(f"{chart}/values.schema.json", encoding="utf-8") as handle:
        schema = json.load(handle)
    with open(f"{chart}/values.schema.json", "w", encoding="utf-8") as handle:
        handle.write(json.dumps(schema_with_settings(schema), indent=2) + "\n")
