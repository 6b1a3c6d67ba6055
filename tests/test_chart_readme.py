"""chart/README.md and Chart.yaml as Helm's ecosystem reads them: the parameters table generated
from values.yaml by bitnami's readme-generator-for-helm (no drift), the README packaged so
`helm show readme` shows it, and metadata that points at real things."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import helm_python
import pytest
import yaml
from helm import CHART, documents, render
from pss import pod_spec


def generator() -> str:
    """The generator's path, from the Makefile (`make test` installs it with npm ci). Missing is a
    failure, not a skip: a drift check that silently does not run cannot catch drift."""
    path = os.environ.get("README_GENERATOR")
    assert path, "README_GENERATOR is not set: run the tests with `make test` (it installs the generator)"
    assert Path(path).is_file(), f"README_GENERATOR={path} does not exist: run `make test` or `make chart-readme`"
    return path


def regenerate(tmp_path: Path, values: str, readme: str) -> tuple[subprocess.CompletedProcess, str]:
    (tmp_path / "values.yaml").write_text(values)
    (tmp_path / "README.md").write_text(readme)
    result = subprocess.run(
        [generator(), "--values", str(tmp_path / "values.yaml"), "--readme", str(tmp_path / "README.md")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, (tmp_path / "README.md").read_text()


def test_chart_readme_is_what_the_generator_makes_from_values_yaml(tmp_path):
    readme = (CHART / "README.md").read_text()
    result, regenerated = regenerate(tmp_path, (CHART / "values.yaml").read_text(), readme)
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    assert result.returncode == 0, "values.yaml lacks @param metadata: " + "; ".join(errors or [result.stderr.strip()])
    assert regenerated == readme, "chart/README.md is out of date with chart/values.yaml: run make chart-readme"


def test_the_drift_check_catches_a_changed_default(tmp_path):
    """The check above can fail: a default changed in values.yaml changes the generated table."""
    values = (CHART / "values.yaml").read_text().replace("  size: 20Gi\n", "  size: 30Gi\n", 1)
    assert "size: 30Gi" in values
    _, regenerated = regenerate(tmp_path, values, (CHART / "README.md").read_text())
    assert "| `persistence.size` " in regenerated and "`30Gi`" in regenerated
    assert regenerated != (CHART / "README.md").read_text()


def test_the_generator_refuses_a_value_without_metadata(tmp_path):
    values = (CHART / "values.yaml").read_text() + "\nundocumented: 1\n"
    result, _ = regenerate(tmp_path, values, (CHART / "README.md").read_text())
    assert result.returncode != 0 and "Missing metadata for key: undocumented" in result.stdout


def test_every_value_has_a_described_row():
    """Every value has a row with a description (the full prose stays beside the key in values.yaml)."""
    table = (CHART / "README.md").read_text().split("## Parameters", 1)[1]
    rows = dict(re.findall(r"^\| `([^`]+)`\s*\|\s*(.*?)\s*\|", table, re.M))
    assert rows["gate.floor"] and rows["server.priorityClassName"] and rows["clusterChecks.enabled"]
    assert rows["server.resources.limits.nvidia.com/gpu"]
    assert all(description for name, description in rows.items()), [n for n, d in rows.items() if not d]


def test_helm_packages_the_readme_so_helm_show_readme_has_it(tmp_path):
    archive = helm_python.package(CHART, destination=tmp_path)
    with tarfile.open(archive) as tar:
        packaged = tar.extractfile("tts/README.md").read().decode()
    assert packaged == (CHART / "README.md").read_text()
    # `helm show readme` prints the chart file named README.md (case-insensitively) at the root.
    files = {f["name"] for f in helm_python.Chart.load_archive(Path(archive).read_bytes()).files}
    assert "README.md" in files


def test_chart_yaml_points_at_real_things():
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    text = (CHART / "Chart.yaml").read_text()
    assert "example" not in text and "invalid" not in text, "no placeholder addresses"
    assert "home" not in meta, "no public page of the chart's own: none rather than a placeholder"
    assert meta["sources"] == ["https://github.com/devnen/Chatterbox-TTS-Server", "https://github.com/resemble-ai/chatterbox"]
    assert meta["maintainers"] == [{"name": "Viktor Barzin", "url": "https://github.com/ViktorBarzin"}]


def test_artifact_hub_lists_exactly_the_images_the_defaults_run():
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    listed = {entry["image"] for entry in yaml.safe_load(meta["annotations"]["artifacthub.io/images"])}
    running = set()
    for obj in documents(render({})):
        spec = pod_spec(obj)
        for container in (spec or {}).get("containers", []) + (spec or {}).get("initContainers", []):
            running.add(container["image"])
    assert listed == running


@pytest.mark.parametrize("scenario", sorted((CHART / "ci").glob("*-values.yaml")), ids=lambda p: p.name)
def test_version_labels_are_valid_and_say_whose_version(scenario):
    """A label value is at most 63 characters of [-A-Za-z0-9_.], alphanumeric at both ends; the
    gate's objects carry the gate's version, the rest the server's short SHA, never the 40."""
    values = yaml.safe_load(scenario.read_text()) or {}
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    gate_tag = ((values.get("gate") or {}).get("image") or {}).get("tag", defaults["gate"]["image"]["tag"])
    server_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"][:8]
    for obj in documents(render(values)):
        labels = obj["metadata"].get("labels") or {}
        version = labels.get("app.kubernetes.io/version")
        component = labels.get("app.kubernetes.io/component", "")
        if version is None:
            continue
        assert re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", version), version
        expected = gate_tag if component.startswith("gate") or component == "test" else server_version
        assert version == expected, f"{obj['kind']} {obj['metadata']['name']}"


def test_the_generator_is_pinned_in_one_place():
    """ct/package.json pins an exact version (`make test` installs it with npm ci, which refuses a
    lock that disagrees); the lock resolves that version."""
    root = CHART.parent
    package = json.loads((root / "ct" / "package.json").read_text())
    lock = json.loads((root / "ct" / "package-lock.json").read_text())
    pinned = package["dependencies"]["@bitnami/readme-generator-for-helm"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned)
    assert lock["packages"]["node_modules/@bitnami/readme-generator-for-helm"]["version"] == pinned
