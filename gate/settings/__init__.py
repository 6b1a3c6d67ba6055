"""The gate's settings: one table, one document, one precedence, each value parsed once.

`table.SETTINGS` is the one definition of every setting: its key in the settings document (the
chart's value under `gate`, so `demand.url` is `gate.demand.url`), its kind, its default, its
bound, its help, its GATE_* variable and its flag. Everything else is derived from it or tested
against it: the command line's options (gate/cli/options.py), each value's pattern
(`patterns`, which the gate matches and values.schema.json carries), the chart's values.yaml
defaults, files/gate-settings.json and values.schema.json (`chart`, `make settings`), and
`policy.Settings`' defaults.

The document (the chart renders it into the ConfigMap `<release>-gate-config`, key `gate.yaml`):

    apiVersion: tts.gate/v1
    <the settings, as YAML, nested as under gate in the chart's values>
    # sha256:<64 hex digits>

The first line names the format; the last line is the seal: the sha256, in lowercase hex, of
every byte above it (the header and the settings, each line with its newline), as Helm's
`sha256sum` computes it in templates/_settings.tpl; one newline may follow it. A file that is
empty, cut short (its seal gone, or no longer matching), edited since it was sealed, or not the
gate's own (no header) is refused before it is parsed; `gate check-config --seal FILE` seals a
hand-written one (it adds the header when missing). Reading is bounded: at most 1 MiB (a
ConfigMap's limit; more is refused after 1 MiB + 1 byte), YAML without anchors or aliases,
nested at most 8 deep, every value at most 4096 characters, every quoted value shortened.

Every problem of a file is refused at once, in one line: the file, then each key, what was
given, what is expected and the right form of it (`floor: 6.5` -> write floor: "6656MiB"). A
flag's or a variable's problem is named by its flag or variable.

Precedence, in `meaning.settle` only: a flag beats its variable, which beats the file, which
beats the default. Each value is parsed once where it enters (`load` for the file's,
`parse_values` for the command line's); `settle` picks by precedence and checks what one value
cannot say alone.

Adding a setting: one `Setting` row in table.py, its value (with its `## @param` line) in
chart/values.yaml, the code that uses it and its test; `make settings chart-readme` regenerates
what the chart derives (tests/test_defaults.py fails until they are).
"""

from __future__ import annotations

from gate.settings.document import (
    API_VERSION,
    HEADER,
    MAX_BYTES,
    Document,
    content_hash,
    decode,
    flatten,
    load,
    load_text,
    nest,
    read_bytes,
    read_stdin,
    seal,
    seal_file,
    unseal,
)
from gate.settings.meaning import (
    Given,
    InvalidSettings,
    Problem,
    Resolved,
    Settled,
    device_beside_per_pod,
    parse,
    parse_values,
    policy_settings,
    resolve,
    settle,
    shown,
)
from gate.settings.row import EXPECTED, DeviceSourceName, Format, Kind, Origin, Setting, SourceName
from gate.settings.table import BY_KEY, SETTINGS, SHARED, defaults

__all__ = [
    "API_VERSION",
    "BY_KEY",
    "EXPECTED",
    "HEADER",
    "MAX_BYTES",
    "SETTINGS",
    "SHARED",
    "DeviceSourceName",
    "Document",
    "Format",
    "Given",
    "InvalidSettings",
    "Kind",
    "Origin",
    "Problem",
    "Resolved",
    "Setting",
    "Settled",
    "SourceName",
    "content_hash",
    "decode",
    "defaults",
    "device_beside_per_pod",
    "flatten",
    "load",
    "load_text",
    "nest",
    "parse",
    "parse_values",
    "policy_settings",
    "read_bytes",
    "read_stdin",
    "resolve",
    "seal",
    "seal_file",
    "settle",
    "shown",
    "unseal",
]
