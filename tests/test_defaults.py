"""One set of defaults: the gate's (gate/defaults.py) are the chart's (chart/values.yaml)."""

from __future__ import annotations

from pathlib import Path

import yaml

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
    cron = gate["cronJobs"]
    assert (
        cron["windowUp"]["schedule"],
        cron["reentry"]["schedule"],
        cron["guard"]["schedule"],
        cron["windowDown"]["schedule"],
    ) == (
        defaults.WINDOW_UP_SCHEDULE,
        defaults.REENTRY_SCHEDULE,
        defaults.GUARD_SCHEDULE,
        defaults.WINDOW_DOWN_SCHEDULE,
    )
