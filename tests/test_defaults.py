"""One set of defaults: the gate's (gate/defaults.py) are the chart's (chart/values.yaml, and the
schedules the chart derives from them, as the real Helm engine renders them)."""

from __future__ import annotations

from pathlib import Path

import yaml
from helm import by_kind, documents, render

from gate import defaults

VALUES = yaml.safe_load((Path(__file__).resolve().parent.parent / "chart" / "values.yaml").read_text())


def test_the_gate_and_the_chart_share_their_defaults():
    gate = VALUES["gate"]
    assert (VALUES["server"]["name"], gate["metricsUrl"], gate["source"]) == (
        defaults.DEPLOYMENT,
        defaults.METRICS_URL,
        defaults.SOURCE,
    )
    assert (gate["floor"], gate["total"], gate["window"], gate["timeZone"]) == (
        defaults.FLOOR,
        defaults.TOTAL,
        defaults.WINDOW,
        defaults.TIMEZONE,
    )
    assert (gate["cooldown"], gate["hysteresis"], gate["maxAge"], gate["timeout"]) == (
        defaults.COOLDOWN,
        defaults.HYSTERESIS,
        defaults.MAX_AGE,
        defaults.TIMEOUT,
    )
    assert (gate["emptyIsIdle"], gate["startupGrace"], gate["ownPeak"], gate["device"]["source"]) == (
        defaults.EMPTY_IS_IDLE,
        defaults.STARTUP_GRACE,
        defaults.TTS_PEAK,
        "",
    )
    assert (gate["sidecar"]["interval"], gate["sidecar"]["metricsPort"]) == (defaults.SIDECAR_INTERVAL, defaults.METRICS_PORT)
    assert (gate["controller"]["interval"], gate["controller"]["metricsPort"]) == (defaults.CONTROLLER_INTERVAL, defaults.METRICS_PORT)
    assert (gate["demand"]["url"], gate["demand"]["field"], gate["demand"]["idleAfter"], gate["demand"]["window"]) == (
        "",
        defaults.DEMAND_FIELD,
        defaults.DEMAND_IDLE_AFTER,
        "",
    )
    assert (gate["entryMargin"], gate["enabled"], gate["cooldownMax"]) == (defaults.ENTRY_MARGIN, True, defaults.COOLDOWN_MAX)


def test_the_rendered_default_schedules_are_the_gates():
    """The chart derives the schedules from gate.window (the values say ""); what it renders with
    defaults is what `gate replay` and the benchmark simulate."""
    assert {job: VALUES["gate"]["cronJobs"][job]["schedule"] for job in ("windowUp", "guard", "windowDown")} == {
        "windowUp": "",
        "guard": "",
        "windowDown": "",
    }
    cronjobs = {c["metadata"]["name"]: c["spec"] for c in by_kind(documents(render({})), "CronJob")}
    assert {name: spec["schedule"] for name, spec in cronjobs.items() if not spec.get("suspend")} == {
        "tts-window-up": defaults.WINDOW_UP_SCHEDULE,
        "tts-guard": defaults.GUARD_SCHEDULE,
        "tts-window-down": defaults.WINDOW_DOWN_SCHEDULE,
    }
    assert {spec["timeZone"] for spec in cronjobs.values()} == {defaults.TIMEZONE}
