"""The release (.github/workflows/release.yml and .github/release.py), as far as it runs without
a registry: the workflow passes actionlint; the tag is refused unless it is the chart's version;
the images pushed are the names and tags the chart's defaults render; the published chart is
packaged by Helm's own package code (helm-python-sdk) and, loaded back from its archive, runs
exactly the images pushed, pinned by digest, in every pod."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
from pathlib import Path

import helm_python
import pytest
import yaml
from helm import documents, render

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
ACTIONLINT = Path(sys.executable).parent / "actionlint"
SERVER_DIGEST = "sha256:" + "a1" * 32
GATE_DIGEST = "sha256:" + "b2" * 32

spec = importlib.util.spec_from_file_location("release", ROOT / ".github" / "release.py")
assert spec is not None and spec.loader is not None
release = importlib.util.module_from_spec(spec)
spec.loader.exec_module(release)

CHART = yaml.safe_load((ROOT / "chart" / "Chart.yaml").read_text())
TAG = f"v{CHART['version']}"


def run_release(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / ".github" / "release.py"), *args], capture_output=True, text=True, timeout=60)


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT.exists(), f"actionlint is not installed at {ACTIONLINT}: `make venv` installs the test extra"
    return subprocess.run([str(ACTIONLINT), "-no-color", str(path)], capture_output=True, text=True, timeout=60)


def test_the_release_workflow_passes_actionlint():
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_step(tmp_path):
    """The lint is real: an output of a step that does not exist is an error."""
    broken = tmp_path / ".github" / "workflows" / "release.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("steps.release.outputs.server_tag", "steps.relase.outputs.server_tag"))
    result = actionlint(broken)
    assert result.returncode == 1 and "relase" in result.stdout


def test_the_workflow_builds_both_images_with_provenance_and_pushes_the_chart_as_oci():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow[True]["push"]["tags"] == ["v*"]  # PyYAML reads the key `on` as True
    steps = {step.get("id"): step for step in workflow["jobs"]["publish"]["steps"] if step.get("id")}
    assert workflow["jobs"]["publish"]["needs"] == "test"
    assert workflow["jobs"]["test"]["steps"][-1]["run"] == ".ci/run"
    for image, file, platforms in (("server", "Dockerfile.cu128", "linux/amd64"), ("gate", "Dockerfile.gate", "linux/amd64,linux/arm64")):
        build = steps[image]["with"]
        assert (build["file"], build["platforms"], build["push"], build["provenance"], build["sbom"]) == (
            file,
            platforms,
            True,
            "mode=max",
            True,
        )
        assert build["tags"] == f"${{{{ steps.release.outputs.{image}_image }}}}:${{{{ steps.release.outputs.{image}_tag }}}}"
    chart = next(step for step in workflow["jobs"]["publish"]["steps"] if step.get("name", "").startswith("Chart"))
    assert (
        "helm package" in chart["run"] and 'helm push ".build/release/tts-${CHART_VERSION}.tgz" "oci://${REGISTRY}/charts"' in chart["run"]
    )
    assert workflow["jobs"]["publish"]["permissions"] == {"contents": "read", "packages": "write"}


def test_a_tag_other_than_the_charts_version_is_refused_in_one_line():
    result = run_release("versions", "--tag", "v0.0.1", "--owner", "someone")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"release: tag 'v0.0.1' is not the chart's version: push {TAG} (chart/Chart.yaml), or bump the chart first\n"


def test_the_images_pushed_are_the_ones_the_charts_defaults_render():
    result = run_release("versions", "--tag", TAG, "--owner", "SomeOne")
    assert result.returncode == 0, result.stderr
    out = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert out["chart_version"] == CHART["version"] and out["registry"] == "ghcr.io/someone"
    assert out["chatterbox_ref"] == CHART["appVersion"]
    repositories = {"server": out["server_image"], "gate": out["gate_image"]}
    objects = documents(render({key: {"image": {"repository": repo}} for key, repo in repositories.items()}))
    running = {c["image"] for obj in objects for c in pod_containers(obj)}
    assert running == {f"{out['server_image']}:{out['server_tag']}", f"{out['gate_image']}:{out['gate_tag']}"}
    assert out["server_image"] == "ghcr.io/someone/chatterbox-tts" and out["gate_image"] == "ghcr.io/someone/tts-gate"


def pod_containers(obj: dict) -> list[dict]:
    spec = obj.get("spec") or {}
    template = spec.get("jobTemplate", {}).get("spec", {}).get("template") or spec.get("template")
    pod = (template or {}).get("spec") or (spec if obj["kind"] == "Pod" else {})
    return [*pod.get("containers", []), *pod.get("initContainers", [])]


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """The chart as the workflow publishes it: written by release.py, packaged by Helm."""
    out = tmp_path_factory.mktemp("release")
    result = run_release("chart", "--owner", "SomeOne", "--server-digest", SERVER_DIGEST, "--gate-digest", GATE_DIGEST, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return Path(helm_python.package(result.stdout.strip(), destination=out))


def test_the_published_chart_is_named_for_its_version(published):
    assert published.name == f"tts-{CHART['version']}.tgz"
    with tarfile.open(published) as archive:
        names = archive.getnames()
    assert "tts/templates/server-warmup-job.yaml" in names and not any(n.startswith("tts/ci/") or n.startswith("tts/tests/") for n in names)


def test_the_published_chart_runs_the_pushed_images_by_digest_everywhere(published, tmp_path):
    with tarfile.open(published) as archive:
        archive.extractall(tmp_path, filter="data")
    chart = helm_python.Chart.load(tmp_path / "tts")
    rendered = chart.render({}, name="tts", namespace="tts")
    objects = [doc for path, text in rendered.items() if not path.endswith("NOTES.txt") for doc in yaml.safe_load_all(text) if doc]
    running = {c["image"] for obj in objects if isinstance(obj, dict) and "kind" in obj for c in pod_containers(obj)}
    assert running == {f"ghcr.io/someone/chatterbox-tts@{SERVER_DIGEST}", f"ghcr.io/someone/tts-gate@{GATE_DIGEST}"}
    meta = yaml.safe_load((tmp_path / "tts" / "Chart.yaml").read_text())
    assert {entry["image"] for entry in yaml.safe_load(meta["annotations"]["artifacthub.io/images"])} == running
    values = (tmp_path / "tts" / "values.yaml").read_text()
    assert "## @param server.image.digest" in values  # comments kept: helm show values is read by people
    assert "| `gate.image.digest`" in (tmp_path / "tts" / "README.md").read_text()
    assert f"`{GATE_DIGEST}`" in (tmp_path / "tts" / "README.md").read_text()


def test_a_digest_that_is_not_one_is_refused(tmp_path):
    result = run_release("chart", "--owner", "x", "--server-digest", "latest", "--gate-digest", GATE_DIGEST, "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == "release: server digest 'latest' is not sha256:<64 hex digits>\n"
    assert not (tmp_path / "tts").exists()


def test_set_values_keeps_comments_and_refuses_a_missing_key():
    text = "a:\n  ## @param a.b the b\n  b: old\n  c:\n    b: other\n"
    assert release.set_values(text, {"a.b": "new"}) == 'a:\n  ## @param a.b the b\n  b: "new"\n  c:\n    b: other\n'
    with pytest.raises(release.Refused, match="has no a.d"):
        release.set_values(text, {"a.d": "x"})


def test_the_release_script_needs_only_the_standard_library():
    """The workflow runs it with the runner's python3, before anything is installed."""
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(ROOT / ".github" / "release.py"), "versions", "--tag", TAG, "--owner", "o"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
