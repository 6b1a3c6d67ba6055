"""Settings documents as the chart renders them, for the tests: the header, the body, and the
seal computed here on its own (sha256 of every byte above the seal line), so a test's file is
sealed whether or not the gate would accept what it says; and how the chart refuses a setting."""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from gate.settings import nest

HEADER = "apiVersion: tts.gate/v1\n"


def sealed(body: str) -> str:
    text = body if body.startswith(HEADER) else HEADER + body
    text = text if text.endswith("\n") else text + "\n"
    return f"{text}# sha256:{hashlib.sha256(text.encode()).hexdigest()}\n"


def document(**values: Any) -> str:
    """A sealed document holding these settings (by key: "demand.url" nests under demand)."""
    return sealed(yaml.safe_dump(nest(values)) if values else "")


def assert_refused_at_render(message: str, key: str) -> None:
    """A value's own shape, choices and bound: the schema generated from the table names its
    path (Helm lists every failure); what one value cannot say alone: one line from a template
    naming gate.<key> and ending with the right form."""
    *group, leaf = key.split(".")
    parent = "/".join(["/gate", *group])
    by_schema = f"at '{parent}/{leaf}': " in message or (f"at '{parent}': " in message and f"'{leaf}'" in message)
    if message.startswith("values don't meet the specifications of the schema"):
        assert by_schema, message
        return
    assert len(message.strip().splitlines()) == 1, message
    assert f"): gate.{key}: " in message, message
    assert "; write " in message or "; the gate's settings" in message or "e.g." in message, message
