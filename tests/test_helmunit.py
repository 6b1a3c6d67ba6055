"""The helm-unittest runner itself: wrong expectations must fail, with helm-unittest's semantics."""

from __future__ import annotations

from pathlib import Path

import pytest
from helm import CHART
from helmunit import Job, SuiteError, apply_set, lookup_path, run

SUITE_FILE = CHART / "tests" / "inline_test.yaml"


def job(asserts, **extra) -> Job:
    suite = {"suite": "inline", "templates": ["server-service.yaml"], "release": {"name": "tts", "namespace": "tts"}}
    return Job(Path(SUITE_FILE), suite, {"it": "inline", "asserts": asserts, **extra})


@pytest.mark.parametrize(
    "assertion",
    [
        {"equal": {"path": "spec.ports[0].port", "value": 8001}},
        {"equal": {"path": "spec.ports[0].port", "value": 8000}, "not": True},
        {"notEqual": {"path": "spec.ports[0].port", "value": 8000}},
        {"exists": {"path": "spec.loadBalancerIP"}},
        {"notExists": {"path": "spec.type"}},
        {"isKind": {"of": "Deployment"}},
        {"contains": {"path": "spec.ports", "content": {"name": "http"}}},  # partial without any: true
        {"contains": {"path": "spec.ports", "content": {"name": "http"}, "any": True, "count": 2}},
        {"isSubset": {"path": "metadata.labels", "content": {"app.kubernetes.io/component": "gate"}}},
        {"matchRegex": {"path": "metadata.name", "pattern": "^tts$"}},
        {"lengthEqual": {"path": "spec.ports", "count": 3}},
        {"hasDocuments": {"count": 2}},
        {"failedTemplate": {}},
        {"equal": {"path": "spec.ports[0].port", "value": 8000}, "template": "no-such.yaml"},
    ],
)
def test_wrong_expectations_fail(assertion):
    with pytest.raises(AssertionError):
        run(job([assertion]))


def test_right_expectations_pass():
    run(
        job(
            [
                {"equal": {"path": 'metadata.labels["app.kubernetes.io/component"]', "value": "server"}},
                {"contains": {"path": "spec.ports", "content": {"name": "http"}, "any": True, "count": 1}},
                {"equal": {"path": 'spec.ports[?(@.name == "gate-metrics")].port', "value": 9402}},
                {"notFailedTemplate": {}},
            ]
        )
    )


def test_failed_template_compares_the_readable_message():
    failing = job([{"failedTemplate": {"errorMessage": "persistence.nfs.server is required when persistence.type is nfs"}}])
    failing.job["set"] = {"persistence.type": "nfs"}
    run(failing)
    failing.job["asserts"] = [{"failedTemplate": {"errorMessage": "something else"}}]
    with pytest.raises(AssertionError):
        run(failing)


def test_unknown_assertion_kinds_are_refused():
    with pytest.raises(SuiteError):
        run(job([{"matchSnapshot": {"path": "spec"}}]))


def test_set_paths():
    values: dict = {}
    apply_set(values, "a.b\\.c.d", 1)
    apply_set(values, "list[1].x", "y")
    assert values == {"a": {"b.c": {"d": 1}}, "list": [{}, {"x": "y"}]}


def test_lookup_paths():
    document = {"a": {"b.c": [{"name": "x", "v": 1}, {"name": "y", "v": 2}]}}
    assert lookup_path(document, 'a["b.c"][1].v') == 2
    assert lookup_path(document, 'a["b.c"][?(@.name == "x")].v') == 1
