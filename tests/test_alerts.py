"""The chart's alert rules, proven with the real tool: `promtool check rules` on every rendering,
and `promtool test rules` (tests/alerts_test.yaml) firing and resolving every alert on synthetic
series sampled every 2 minutes, as the owner's Prometheus scrapes."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from helm import CHART, documents, one, render
from prometheus_client import generate_latest
from promserver import binary

from gate import policy
from gate.cycle import Outcome
from gate.telemetry import WatchMetrics

UNIT_TESTS = Path(__file__).parent / "alerts_test.yaml"
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
# What alerts_test.yaml was written for: the defaults, with the demand queue on.
UNIT_TEST_VALUES = {
    "metrics": {
        "prometheusRule": {"enabled": True},
        "alertRulesConfigMap": {"enabled": True},
        "demand": {"marginMinutes": 10},
    },
    "gate": {"demand": {"url": "http://tripit.tripit.svc.cluster.local:8080/api/tour/tts-queue", "idleAfter": "10m"}},
}
SCRAPE_MINUTES = 2


def rule_file(values: dict) -> str:
    """The plain-Prometheus rule file (the ConfigMap's one key) for these values."""
    [configmap] = [o for o in documents(render(values)) if o["metadata"]["name"].endswith("-alert-rules")]
    [text] = configmap["data"].values()
    return text


def rules(values: dict) -> list[dict]:
    return [rule for group in yaml.safe_load(rule_file(values))["groups"] for rule in group["rules"]]


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def unit_test(tmp_path: Path, rule_text: str) -> subprocess.CompletedProcess:
    (tmp_path / "alerts.yml").write_text(rule_text)
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    return promtool("test", "rules", UNIT_TESTS.name, cwd=tmp_path)


def test_promtool_fires_and_resolves_every_alert(tmp_path):
    result = unit_test(tmp_path, rule_file(UNIT_TEST_VALUES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_unit_tests_cover_every_alert_firing_then_resolving():
    """Each rendered alert has a test group where it fires at one time and is gone later."""
    covered = set()
    for group in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        by_alert: dict[str, list[tuple[int, bool]]] = {}
        for case in group.get("alert_rule_test", []):
            minutes = int(case["eval_time"].removesuffix("m"))
            by_alert.setdefault(case["alertname"], []).append((minutes, bool(case["exp_alerts"])))
        for alert, cases in by_alert.items():
            fired = [t for t, firing in cases if firing]
            if fired and any(not firing and t > min(fired) for t, firing in cases):
                covered.add(alert)
    assert {rule["alert"] for rule in rules(UNIT_TEST_VALUES)} == covered


def test_a_wrong_rule_fails_the_unit_tests(tmp_path):
    """The unit tests can fail: a `for:` shorter than two scrapes pages on one blind scrape."""
    broken = rule_file(UNIT_TEST_VALUES).replace("for: 10m", "for: 1m", 1)
    result = unit_test(tmp_path, broken)
    assert result.returncode != 0
    assert "TTSGateBlind" in result.stdout + result.stderr


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_promtool_accepts_the_rules_of_every_scenario(scenario, tmp_path):
    values = yaml.safe_load(scenario.read_text()) or {}
    values.setdefault("metrics", {})["alertRulesConfigMap"] = {"enabled": True}
    (tmp_path / "alerts.yml").write_text(rule_file(values))
    result = promtool("check", "rules", "alerts.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_prometheus_rule_and_the_rule_file_are_one_source():
    objects = documents(render(UNIT_TEST_VALUES))
    assert one(objects, "PrometheusRule")["spec"] == yaml.safe_load(rule_file(UNIT_TEST_VALUES))


def test_every_alert_says_what_to_do_and_waits_for_two_scrapes():
    for rule in rules(UNIT_TEST_VALUES):
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        if rule["alert"] == "TTSGateJobFailed":
            assert "for" not in rule  # a failed Job is a fact, not a reading that can flap
            continue
        minutes = int(re.fullmatch(r"([0-9]+)m", rule["for"]).group(1))
        assert minutes >= 2 * SCRAPE_MINUTES, rule["alert"]


def test_the_holding_alerts_read_kube_state_metrics_not_the_server_pod():
    """They must fire when the server pod's sidecar is gone: the card-holding side comes from
    kube-state-metrics' Deployment series."""
    by_name = {rule["alert"]: rule["expr"] for rule in rules(UNIT_TEST_VALUES)}
    for alert in ("TTSHoldsGPUWithoutGate", "TTSHoldsGPUOutsideWindow", "TTSHoldsGPUIdle"):
        assert 'kube_deployment_spec_replicas{namespace="tts",deployment="chatterbox-tts"}' in by_name[alert]
    assert "kube_cronjob_next_schedule_time" in by_name["TTSHoldsGPUOutsideWindow"]
    assert "gate_in_window" not in " ".join(by_name.values())


def test_optional_alerts_follow_the_values():
    names = {r["alert"] for r in rules({"metrics": {"alertRulesConfigMap": {"enabled": True}}})}
    assert "TTSHoldsGPUIdle" not in names  # no demand queue configured
    assert "TTSHoldsGPUOutsideWindow" in names
    anytime = rules({"gate": {"window": ""}, "metrics": {"alertRulesConfigMap": {"enabled": True}}})
    assert "TTSHoldsGPUOutsideWindow" not in {r["alert"] for r in anytime}
    no_guard = rules({"gate": {"cronJobs": {"guard": {"enabled": False}}}, "metrics": {"alertRulesConfigMap": {"enabled": True}}})
    [without_gate] = [r for r in no_guard if r["alert"] == "TTSHoldsGPUWithoutGate"]
    assert "kube_cronjob_status_last_successful_time" not in without_gate["expr"]


def test_selectors_and_thresholds_come_from_the_values():
    values = {
        "metrics": {
            "alertRulesConfigMap": {"enabled": True, "namespace": "prometheus"},
            "kubeStateMetricsSelector": 'job="kube-state-metrics"',
            "alerts": {"blindMinutes": 20, "loopStaleMinutes": 7, "outsideWindowMinutes": 15, "unavailableMinutes": 15, "breachMinutes": 5},
        }
    }
    by_name = {r["alert"]: r for r in rules(values)}
    assert by_name["TTSGateBlind"]["for"] == "20m"
    assert by_name["TTSGateLoopStalled"]["expr"].endswith("> 420")
    assert 'kube_job_status_failed{job="kube-state-metrics",namespace="tts",' in by_name["TTSGateJobFailed"]["expr"]
    configmap = next(o for o in documents(render(values)) if o["metadata"]["name"] == "tts-alert-rules")
    assert configmap["metadata"]["namespace"] == "prometheus"


def test_the_gauge_the_over_budget_alert_reads_follows_the_gates_state():
    """gate_over_budget_yields is tonight's count once a run's decision is written: set by the yield
    that counts, kept while the Lease keeps it, gone when the night's state is cleared."""
    night = datetime(2026, 11, 12, 2, 30, tzinfo=UTC)
    settings = policy.Settings("tts", "chatterbox-tts", 6 * 2**30, total_bytes=15 * 2**30)
    own = policy.Reading(pods=(policy.PodUsage("tts", "chatterbox-tts-6b7c9d8f5-h4j7k", 7 * 2**30),), sampled_at=night)
    held = policy.GateState(1, entered_at=night - timedelta(minutes=10), over_budget_yields=1, over_budget_at=night - timedelta(minutes=9))
    metrics = WatchMetrics()

    def gauge(state: policy.GateState, decision: policy.Decision, now: datetime = night) -> str:
        metrics.record(Outcome("tick", now, state, decision, None, False), settings, 0.0)
        [line] = [x for x in generate_latest(metrics.registry).decode().splitlines() if x.startswith("gate_over_budget_yields ")]
        return line.split()[1]

    second = policy.decide_guard(policy.assess(own, settings, night, held), held, settings)
    assert (second.reason, gauge(held, second)) == (policy.Reason.OVER_BUDGET, "2.0")
    barred = policy.GateState.from_annotations(0, {k: v for k, v in second.annotations.items() if v is not None})
    assert gauge(barred, policy.Decision("tick", policy.Reason.OVER_BUDGET, "barred")) == "2.0"
    assert gauge(barred, policy.decide_down(barred)) == "0.0"
    # With no window, 12 hours after the last over-budget yield the night is over.
    assert gauge(barred, policy.Decision("tick", policy.Reason.COOLING_DOWN, "x"), night + timedelta(hours=12)) == "0.0"


def card_b_fires(series: str, values: tuple[str, str], alert: tuple[str, str, str], annotations: dict[str, str]) -> dict:
    """A promtool test: `series` from card node-a's gate and node-b's (their values), and at
    eval time the alert (name, severity) firing for node-b alone, labelled with its Deployment."""
    eval_time, name, severity = alert
    return {
        "interval": "2m",
        "input_series": [
            {"series": f'{series}{{namespace="tts",deployment="tts-{card}",pod="tts-{card}-5c8d7f9b6-q4w2n"}}', "values": value}
            for card, value in zip(("node-a", "node-b"), values, strict=True)
        ],
        "alert_rule_test": [
            {
                "eval_time": eval_time,
                "alertname": name,
                "exp_alerts": [
                    {"exp_labels": {"severity": severity, "namespace": "tts", "deployment": "tts-node-b"}, "exp_annotations": annotations}
                ],
            }
        ],
    }


def test_each_cards_gate_alerts_alone_and_says_which(tmp_path):
    """Two cards' gates in one namespace: card b's blind gate fires card b's alert, labelled with its
    Deployment, and card a's stays quiet (a sum over the namespace would fire both, or neither);
    so do card b's two failed parks tonight against card a's one."""
    values = {**UNIT_TEST_VALUES, "cards": {"node-a": {"node": "gpu-node-a"}, "node-b": {"node": "gpu-node-b"}}}
    rule_text = rule_file(values)
    assert [g["name"] for g in yaml.safe_load(rule_text)["groups"]] == ["tts-gate-node-a", "tts-gate-node-b", "tts-server"]
    (tmp_path / "alerts.yml").write_text(rule_text)
    blind = card_b_fires(
        "gate_blind",
        ("0x10", "1x10"),
        ("13m", "TTSGateBlind", "warning"),
        {
            "summary": "The tts gate has been blind for 10 minutes",
            "description": "Its last observations of the card could not be read or trusted, "
            "so it cannot tell whether residents need the memory.",
            "runbook": "Check the metrics source the gate reads (gate.metricsUrl; for gpu-pod-exporter, "
            "that nvidia-smi works on the node): kubectl -n tts logs deploy/tts-node-b -c gate",
        },
    )
    failing = card_b_fires(
        "gate_park_failures_tonight",
        ("1x10", "2x10"),
        ("10m", "TTSGateParksFailing", "warning"),
        {
            "summary": "Parking the TTS server keeps failing: 2 failed parks or unparks tonight",
            "description": "Each failure (refused, failed, past gate.park.timeout, unreachable, a residue past "
            "gate.park.residue, a parked server that lost its state) scaled the server to 0 as a plain yield "
            "does, so the residents were served; but every return costs a pod start and a model load again.",
            "runbook": "kubectl -n tts get events --field-selector reason=YieldParkFailed (and YieldResidue) "
            "names each failure; the server's side: kubectl -n tts logs deploy/tts-node-b -c server | grep "
            "tts_layer. Turn parking off meanwhile: --set gate.park.enabled=false",
        },
    )
    (tmp_path / "cards_test.yaml").write_text(
        yaml.safe_dump({"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": [blind, failing]})
    )
    result = promtool("test", "rules", "cards_test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_gate_series_a_cards_alerts_read_is_its_own_gates():
    """Each card's group reads the gate's series (the park failures and a try's end included) with
    its own Deployment's matcher, every one of them: a selector without it would read every gate
    of the namespace."""
    values = {**UNIT_TEST_VALUES, "cards": {"node-a": {"node": "gpu-node-a"}, "node-b": {"node": "gpu-node-b"}}}
    groups = {g["name"]: g["rules"] for g in yaml.safe_load(rule_file(values))["groups"]}
    for card in ("node-a", "node-b"):
        exprs = "\n".join(rule["expr"] for rule in groups[f"tts-gate-{card}"])
        selectors = re.findall(r"\b(gate_[a-z_]+)\{([^}]*)\}", exprs)
        assert {"gate_park_failures_tonight", "gate_try_until_timestamp_seconds"} <= {name for name, _ in selectors}
        assert [(name, m) for name, m in selectors if f'deployment="tts-{card}"' not in m] == []
