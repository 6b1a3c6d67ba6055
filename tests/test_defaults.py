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


def test_every_gate_container_gets_the_cool_downs_cap_beside_the_cool_down():
    """GATE_COOLDOWN_MAX goes wherever GATE_COOLDOWN goes (controller, sidecar, CronJobs, tests), at
    the gate's default, and follows gate.cooldownMax."""

    def cool_downs(values: dict) -> list[tuple[str, str | None, str | None]]:
        found = []
        for doc in documents(render(values)):
            spec = doc.get("spec") or {}
            template = (spec.get("jobTemplate") or {}).get("spec", spec).get("template", {}).get("spec") or spec
            for container in template.get("containers") or []:
                env = {e["name"]: e.get("value") for e in container.get("env") or []}
                if "GATE_COOLDOWN" in env or "GATE_COOLDOWN_MAX" in env:
                    found.append((container["name"], env.get("GATE_COOLDOWN"), env.get("GATE_COOLDOWN_MAX")))
        return found

    rendered = cool_downs({})
    assert rendered and all((c, m) == (defaults.COOLDOWN, defaults.COOLDOWN_MAX) for _, c, m in rendered)
    assert {m for _, _, m in cool_downs({"gate": {"cooldownMax": "5m"}})} == {"5m"}
