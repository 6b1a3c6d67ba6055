"""The one way the tests render the chart: the real Helm engine (helm-python-sdk, Helm v4's Go
SDK), with the Kubernetes version and API versions `Chart.render` does not pass on."""

from __future__ import annotations

import functools
import json
import tarfile
from pathlib import Path
from typing import Any

import yaml
from helm_python import Chart, _native

CHART = Path(__file__).resolve().parent.parent / "chart"
# The oldest Kubernetes the chart supports (CronJob timeZone is GA in 1.27) and the newest
# kubernetes-validate ships schemas for.
OLDEST_KUBE = "1.27"
NEWEST_KUBE = "1.37"


# Charts as earlier commits had them, for the upgrade tests: kept in the tree, because a checkout
# without history (a shallow CI clone) cannot `git archive` them. Each made by
# `git archive --format=tar.gz -o tests/fixtures/charts/chart-at-<commit>.tar.gz <commit> chart`.
EARLIER_CHARTS = Path(__file__).resolve().parent / "fixtures" / "charts"


def earlier_chart(commit: str, directory: Path) -> Path:
    """The chart at `commit` (its short name in EARLIER_CHARTS), unpacked into `directory`."""
    with tarfile.open(EARLIER_CHARTS / f"chart-at-{commit}.tar.gz") as archive:
        archive.extractall(directory, filter="data")
    return directory / "chart"


@functools.cache
def chart(directory: Path = CHART) -> Chart:
    return Chart.load(directory)


def render(
    values: dict[str, Any] | None = None,
    *,
    name: str = "tts",
    namespace: str = "tts",
    kube_version: str = OLDEST_KUBE,
    api_versions: list[str] | None = None,
    is_upgrade: bool = False,
    revision: int = 1,
    chart_dir: Path = CHART,
) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` would give them (`chart_dir`: another
    chart, such as an earlier release's)."""
    options = {
        "name": name,
        "namespace": namespace,
        "revision": revision,
        "is_install": not is_upgrade,
        "is_upgrade": is_upgrade,
        "kube_version": f"v{kube_version}.0" if kube_version.count(".") == 1 else f"v{kube_version}",
        "api_versions": api_versions or [],
    }
    rendered = _native.call_string("helm_render", chart(chart_dir)._raw(), json.dumps(values or {}), json.dumps(options))
    return json.loads(rendered)


def documents(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object rendered (NOTES.txt and empty documents left out)."""
    objects = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in by_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def gate_settings(objects: list[dict[str, Any]], name: str = "tts-gate-config") -> dict[str, Any]:
    """The gate's settings document as the chart rendered it (ConfigMap `name`, key gate.yaml)."""
    return yaml.safe_load(one(objects, "ConfigMap", name)["data"]["gate.yaml"])
