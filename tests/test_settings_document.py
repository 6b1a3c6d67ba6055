"""The settings document as the gate reads it: sealed (its header and a seal the chart's Helm
computes as the gate does), bounded (size, YAML aliases and depth, every value and every quoted
value), refused with every problem at once, each named by where it came from and ending with
the right form of it; each duration and size within a bound the runtime honours, the schema
and the gate agreeing on every setting; each value parsed once; an upgrade renders the same
settings from an existing values file."""

from __future__ import annotations

import hashlib
import inspect
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import SHARED_OPTIONS
from gatedoc import document, sealed
from helm import CHART, documents, earlier_chart, one, render
from helm_python.errors import HelmError
from typer.testing import CliRunner

from gate import options as gate_options
from gate import settings as gate_settings
from gate.cli import app
from gate.settings import BY_KEY, SETTINGS, Kind, Origin, load_text, patterns
from gate.settings.meaning import MAX_PROBLEMS
from gate.status import ExitStatus
from gate.units import InvalidValue

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((CHART / "values.schema.json").read_text())


def refusal(text: str) -> str:
    with pytest.raises(InvalidValue) as error:
        load_text(text, "gate.yaml")
    message = str(error.value)
    assert "\n" not in message, message
    return message


def rendered_document(values: dict | None = None) -> str:
    return one(documents(render(values or {})), "ConfigMap", "tts-gate-config")["data"]["gate.yaml"]


# -- the seal: the gate's computation is Helm's ----------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"gate": {"prometheus": {"query": 'sum by (namespace, pod) (\n  gpu_pod_memory_used_bytes{job="x"}\n)'}}},
        {"gate": {"demand": {"url": "http://q.example/queue?x='1'&y=\"2\"", "field": "wartend-ä"}, "window": ""}},
    ],
    ids=["defaults", "a multi-line query", "quotes and unicode"],
)
def test_the_seal_the_chart_renders_is_the_one_the_gate_computes(values):
    text = rendered_document(values)
    lines = text.splitlines(keepends=True)
    assert lines[0] == "apiVersion: tts.gate/v1\n"
    assert lines[-1] == f"# sha256:{hashlib.sha256(''.join(lines[:-1]).encode()).hexdigest()}\n"
    assert gate_settings.unseal(text, "rendered") == "".join(lines[:-1])
    assert load_text(text, "rendered").values  # and it passes as a whole


def test_check_config_seal_seals_a_hand_written_file_and_the_gate_then_reads_it(tmp_path):
    path = tmp_path / "gate.yaml"
    path.write_text("floor: 7GiB\nwindow: 22:00-04:00\n")
    unsealed = CliRunner().invoke(app, ["check-config", str(path)])
    assert unsealed.exit_code == ExitStatus.USAGE and "gate check-config --seal FILE" in unsealed.stderr
    done = CliRunner().invoke(app, ["check-config", "--seal", str(path)])
    assert done.exit_code == 0 and done.stdout.startswith(f"{path}: sealed (hash "), done.output
    text = path.read_text()
    assert text.startswith("apiVersion: tts.gate/v1\nfloor: 7GiB\n") and text.count("# sha256:") == 1
    assert CliRunner().invoke(app, ["check-config", str(path)]).exit_code == 0
    path.write_text(text.replace("7GiB", "8GiB"))  # edited since: refused, until sealed again
    assert "seal does not match" in CliRunner().invoke(app, ["check-config", str(path)]).stderr
    assert CliRunner().invoke(app, ["check-config", "--seal", str(path)]).exit_code == 0
    assert load_text(path.read_text(), "x").values["floor"] == "8GiB" and path.read_text().count("# sha256:") == 1


def test_check_config_seal_refuses_a_bad_file_and_leaves_it_as_it_was(tmp_path):
    path = tmp_path / "gate.yaml"
    path.write_text("floor: 6GB\n")
    result = CliRunner().invoke(app, ["check-config", "--seal", str(path)])
    assert result.exit_code == ExitStatus.USAGE and 'write floor: "6GiB"' in result.stderr
    assert path.read_text() == "floor: 6GB\n"


def test_check_config_seal_of_stdin_prints_the_sealed_document():
    result = CliRunner().invoke(app, ["check-config", "--seal", "-"], input="floor: 7GiB\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == sealed("floor: 7GiB\n")


# -- the right form, and where the value came from ----------------------------------------------

SUGGESTED = [
    ("floor", 6.5, '"6656MiB"'),
    ("floor", "6.5", '"6656MiB"'),
    ("floor", "6144", '"6GiB"'),
    ("floor", "6 GB", '"6GiB"'),
    ("total", "16GB", '"16GiB"'),
    ("total", "device", '""'),
    ("window", "00:00-24:00", '""'),
    ("window", "22:00-24:00", '"22:00-00:00"'),
    ("window", "2am-6am", '"02:00-06:00"'),
    ("window", "02:00 - 06:00", '"02:00-06:00"'),
    ("window", "any", '""'),
    ("cooldown", "10sec", '"10s"'),
    ("cooldown", "2 minutes", '"2m"'),
    ("cooldown", 10, '"10s"'),
    ("cooldown", "1d", '"24h"'),
    ("demand.idleAfter", "1.5m", '"1m30s"'),
    ("controller.interval", "9999999999s", '"1h"'),
    ("timeZone", "Europe/Londn", '"Europe/London"'),
    ("timeZone", "europe/london", '"Europe/London"'),
    ("source", "dcgm-exporter", '"dcgm"'),
    ("enabled", "yes", "true"),
    ("enabled", "off", "false"),
    ("metricsUrl", "gpu-pod-exporter.nvidia.svc:80/metrics", '"http://gpu-pod-exporter.nvidia.svc:80/metrics"'),
]


@pytest.mark.parametrize(("key", "value", "right"), SUGGESTED, ids=[f"{k}={v!r}" for k, v, _ in SUGGESTED])
def test_a_refusal_ends_with_the_right_form_of_the_value_given(key, value, right):
    message = refusal(sealed(yaml.safe_dump(gate_settings.nest({key: value}))))
    assert message.startswith(f"gate.yaml: {key}: "), message
    assert message.endswith(f"; write {key}: {right}"), message


@pytest.mark.parametrize(
    ("args", "extra", "line", "tail"),
    [
        ([], {"GATE_FLOOR": "6.5"}, "gate: GATE_FLOOR: invalid size '6.5'", "; write GATE_FLOOR=6656MiB"),
        (["--floor", "6.5"], {}, "gate: --floor: invalid size '6.5'", "; write --floor 6656MiB"),
        ([], {"GATE_WINDOW": "00:00-24:00"}, "gate: GATE_WINDOW: invalid window '00:00-24:00'", "; write GATE_WINDOW=any"),
        ([], {"GATE_COOLDOWN": "10sec"}, "gate: GATE_COOLDOWN: invalid duration '10sec'", "; write GATE_COOLDOWN=10s"),
    ],
)
def test_a_command_lines_refusal_names_the_flag_or_the_variable_and_its_right_form(env, kubeapi, args, extra, line, tail):
    result = CliRunner().invoke(app, ["preflight", *args], env={**env, **extra})
    assert result.exit_code == ExitStatus.USAGE
    assert result.stderr.startswith(line) and result.stderr.rstrip().endswith(tail), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert kubeapi.requests == []


def test_a_file_with_several_problems_is_refused_with_all_of_them_in_one_line():
    message = refusal(document(floor=6.5, total="16GB", window="00:00-24:00", flor="x", **{"controller.interval": "9999999999s"}))
    problems = message.removeprefix("gate.yaml: ").split(" | ")
    assert [p.split(":", 1)[0] for p in problems] == ["controller.interval", "floor", "flor", "total", "window"], message
    many = refusal(sealed("".join(f"unknown{n}: {n}\n" for n in range(20))))
    assert len(many.split(" | ")) == MAX_PROBLEMS + 1 and many.endswith(f"and {20 - MAX_PROBLEMS} more"), many


def test_a_refusal_never_quotes_an_unbounded_value():
    big = sealed(
        "flor: ["
        + ", ".join(["[1, [2, [3]]]"] * 80)
        + "]\nfloor: '"
        + "9" * 5000
        + "GiB'\nwindow: '"
        + "0" * 100_000
        + "'\nsauce: '"
        + "x" * 20_000
        + "'\n"
    )
    message = refusal(big)
    assert len(message) < 1500, len(message)
    assert "flor: unknown setting ([[1, [...]], [1, [...]], [1, [...]], ...])" in message
    assert "floor: a value of 5003 characters" in message and "window: a value of 100000 characters" in message
    assert "sauce: unknown setting ('xxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxx')" in message


# -- bounds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.bound], ids=lambda s: s.key)
def test_every_size_and_duration_has_a_bound_the_runtime_honours(setting):
    """The largest value the pattern lets through still works everywhere the gate uses one: a
    wait (threading's limit), a time in the Lease (datetime's), a count of bytes (int64)."""
    ceiling = patterns.ceiling(setting)
    if setting.kind == Kind.DURATION:
        assert 3 * ceiling < threading.TIMEOUT_MAX  # the watchdog's bound: two intervals and a timeout
        assert (datetime(2026, 11, 12, tzinfo=UTC) + timedelta(seconds=2 * ceiling)).year < 9999
    else:
        assert ceiling < 2**63
    digits = patterns.digits(setting)
    unit, count = next((u, n) for u, n in digits.items() if u and n)
    largest = "9" * count + ("" if setting.whole else ".9") + unit
    parsed = gate_settings.parse_values({setting.key: (largest, Origin.FILE)}).values[setting.key][0]
    assert parsed < ceiling
    with pytest.raises(InvalidValue, match=f"meant for up to {setting.bound}"):
        gate_settings.parse_values({setting.key: ("9" * (count + 1) + unit, Origin.FILE)})


def test_a_9999999999s_interval_is_refused_by_check_config_and_at_render(tmp_path):
    path = tmp_path / "gate.yaml"
    path.write_text(document(**{"controller.interval": "9999999999s"}))
    result = CliRunner().invoke(app, ["check-config", str(path)])
    assert result.exit_code == ExitStatus.USAGE and "controller.interval: invalid interval '9999999999s'" in result.stderr
    with pytest.raises(HelmError, match=r"at '/gate/controller/interval': '9999999999s' does not match pattern"):
        render({"gate": {"controller": {"interval": "9999999999s"}}})


# -- one meaning: the schema and the gate, on every setting ----------------------------------------

CORPUS = {
    Kind.SIZE: ["6GiB", "6144MiB", "1.5Gi", "0MiB", "9TiB", "10TiB", "9999GiB", "10000GiB", "6", "6GB", "", " 6GiB", "-1GiB", "1e3MiB"],
    Kind.DURATION: ["10s", "5m", "1m30s", "500ms", "90", "0.5", "0s", "1.5m", "9h", "10h", "99h", "100h", "9999999999s", "1d", "", "5 m"],
    Kind.WINDOW: ["02:00-06:00", "2:00-6:00", "22:00-04:00", "24:00-06:00", "00:00-24:00", "any", "", " 02:00-06:00"],
    Kind.TIMEZONE: ["Europe/London", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "EST", "europe/london", "London", ""],
    Kind.URL: ["http://x.svc:80/metrics", "https://a", "http://", "ftp://x", "x.svc:80", "", "none"],
    Kind.TEXT: [
        "queued",
        "sum(x)",
        "",
        "gpu-node-1",
        "Node_A",
        "a" * 254,
        "0",
        "1000",
        "GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a",
        "GPU-12",
    ],
    Kind.CHOICE: ["gpu-pod-exporter", "dcgm", "nvidia_gpu_exporter", "nvidia-smi", "prometheus", "nvml", "", "none", "json", "text"],
    Kind.BOOL: [True, False, "true", "yes", 1, None],
}


def schema_node(setting) -> dict:
    node = SCHEMA["properties"]["gate"]
    for part in setting.key.split("."):
        node = node["properties"][part]
    return node


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.key)
def test_the_schema_and_the_gate_agree_on_every_value_of_every_setting(setting):
    """What values.schema.json accepts for a setting alone is what the gate accepts from its file
    (both carry gate/settings/patterns.py's rule); what one value cannot say alone is the
    templates' and the gate's cross-field checks (tests/test_config.py)."""
    validator = jsonschema.Draft7Validator(schema_node(setting))
    for value in [*CORPUS[setting.kind], setting.default, setting.chart_value]:
        try:
            gate_settings.parse_values({setting.key: (value, Origin.FILE)})
            gate = True
        except InvalidValue:
            gate = False
        assert validator.is_valid(value) == gate, (setting.key, value)


# -- each value parsed once; the loop asks the loader, not the command line --------------------------


def test_each_value_is_parsed_once(tmp_path, monkeypatch):
    from gate.settings import meaning

    meaning.parsed_defaults()  # the table's defaults: parsed once per process
    calls: list[str] = []
    real = meaning._parse
    monkeypatch.setattr(meaning, "_parse", lambda setting, text: calls.append(setting.key) or real(setting, text))
    path = tmp_path / "gate.yaml"
    path.write_text(document(floor="7GiB", window="22:00-04:00", **{"demand.url": "http://q.svc/queue"}))
    raw = {**SHARED_OPTIONS, "config": str(path)}
    options = gate_options.obtain(gate_options.request(raw, {"floor": ("8GiB", Origin.FLAG)}), cluster_needed=False)
    assert sorted(calls) == ["demand.url", "floor", "floor", "window"]  # the file's three, the flag's one
    assert options.settings.floor_bytes == 8 * 2**30 and options.settled.origins["window"] == Origin.FILE


def test_the_loops_watch_holds_no_callback():
    """A reload is the loop asking gate.options again (`obtain`'s request, kept as data)."""
    parameters = inspect.signature(gate_options.ConfigWatch).parameters
    assert "Callable" not in " ".join(str(p.annotation) for p in parameters.values())
    assert "gate.cli" not in inspect.getsource(gate_options)


# -- an upgrade renders the same settings ------------------------------------------------------------

# The last release before the settings became one subtree with a seal (main at the time).
BEFORE = "acdcdef"


@pytest.fixture(scope="module")
def chart_before(tmp_path_factory) -> Path:
    return earlier_chart(BEFORE, tmp_path_factory.mktemp("chart-before"))


# Settings added since that release: an old values file renders them at their defaults.
ADDED_SINCE = (
    "card.node",
    "card.device",
    "prometheus.nodeLabel",
    "park.enabled",
    "park.residue",
    "park.maxParked",
    "park.timeout",
    "park.cooldown",
)


def test_an_upgrade_with_an_existing_values_file_renders_the_same_settings(chart_before):
    """Each values file of the earlier release's chart/ci, rendered by that chart and by this
    one: the settings the gate reads are the same (the new document adds its header and seal,
    and the settings added since at their defaults)."""
    scenarios = sorted((chart_before / "ci").glob("*-values.yaml"))
    assert len(scenarios) >= 10
    for scenario in scenarios:
        values = yaml.safe_load(scenario.read_text()) or {}
        old = yaml.safe_load(one(documents(render(values, chart_dir=chart_before)), "ConfigMap", "tts-gate-config")["data"]["gate.yaml"])
        new_text = rendered_document(values)
        new = gate_settings.flatten(yaml.safe_load(new_text))
        assert new.pop("apiVersion") == "tts.gate/v1"
        added = {key: BY_KEY[key].chart_value for key in ADDED_SINCE}
        assert {key: new.pop(key) for key in ADDED_SINCE} == added, scenario.name
        assert new == gate_settings.flatten(old), scenario.name
        assert load_text(new_text, scenario.name).values == {**gate_settings.flatten(old), **added}


def test_every_setting_is_required_so_a_null_cannot_delete_one():
    with pytest.raises(HelmError, match=r"missing property 'window'"):
        render({"gate": {"window": None}})


def test_no_setting_is_left_out_of_the_bound_or_the_schema():
    assert {s.key for s in SETTINGS if s.kind in (Kind.SIZE, Kind.DURATION)} == {s.key for s in SETTINGS if s.bound}
    assert all("maxLength" in schema_node(s) for s in SETTINGS if s.kind != Kind.BOOL)
    assert BY_KEY["demand.idleAfter"].whole
