"""What the chart carries of the table (`make settings`, and tests/test_defaults.py checks both):
files/gate-settings.json, the keys templates/_settings.tpl renders into gate.yaml (one subtree,
with `toYaml`), and values.schema.json's node for each setting: its type, its pattern or its
choices, its bound, its description. The templates keep only what a schema cannot say."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gate.settings import patterns
from gate.settings.document import API_VERSION
from gate.settings.row import DEVICE_ALIASES, Kind, Setting
from gate.settings.table import BY_KEY, SETTINGS
from gate.sources import ALIASES, DEVICE_SOURCE_NAMES, EXPORTERS, Exporter

SCHEMA_COMMENT = "generated from gate/settings' table by `make settings`"


def chart_table() -> dict[str, Any]:
    """files/gate-settings.json: the document's apiVersion, its keys (top-level, then by group)
    and the sources as the templates' cross-field checks and RBAC need them (their old names
    too): device-level, whose answers name the node, name the GPU, and read from an exporter's own
    /metrics (which the gate reads at its pod on the card's node)."""
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
        "nodeLabellingSources": _names(lambda e: e.labels_node),
        "deviceLabellingSources": _names(lambda e: e.labels_device),
        "scrapedSources": _names(lambda e: e.scraped),
    }


def _names(which: Callable[[Exporter], bool]) -> list[str]:
    """The sources `which` holds for, each by its name and then its old names."""
    chosen = [e.name for e in EXPORTERS if which(e)]
    return [*chosen, *(alias for alias, name in ALIASES.items() if name in chosen)]


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
    if "cards" in schema["properties"]:
        _card_schema(schema["properties"]["cards"]["additionalProperties"])
    return schema


def _card_schema(card: dict[str, Any]) -> None:
    """One entry of the chart's `cards`: its node (required) and device by the rules of card.node
    and card.device, and under `gate` any of the table's settings but the card's own, each by its
    rule and none required (what a card leaves out is gate.*'s)."""
    card["properties"]["node"] = {**schema_node(BY_KEY["card.node"]), "minLength": 1}
    card["properties"]["device"] = schema_node(BY_KEY["card.device"])
    gate: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}
    for setting in SETTINGS:
        *parents, leaf = setting.key.split(".")
        if parents == ["card"]:
            continue
        node = gate
        for part in parents:
            node = node["properties"].setdefault(part, {"type": "object", "additionalProperties": False, "properties": {}})
        node["properties"][leaf] = schema_node(setting)
    card["properties"]["gate"] = gate


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
