"""Images and the Makefile, without a Docker engine: hadolint runs in `make lint`; here the
commands `make` would run, the pins agreeing with each other, and the gate's wheel installing
into a clean venv."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

import gate

ROOT = Path(__file__).resolve().parent.parent


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def dockerfile_arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", (ROOT / "Dockerfile.cu128").read_text(), re.M)
    assert match, name
    return match.group(1)


def test_build_image_push_builds_for_amd64_with_both_tags_then_pushes_them():
    result = make("-n", "build-image", "push")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    ref = dockerfile_arg("CHATTERBOX_REF")
    assert "docker build --platform linux/amd64 -f Dockerfile.cu128" in out
    assert f"--build-arg CHATTERBOX_REF={ref}" in out
    assert f"-t forgejo.viktorbarzin.me/viktor/chatterbox-tts:latest -t forgejo.viktorbarzin.me/viktor/chatterbox-tts:{ref[:8]}" in out
    pushes = re.findall(r"docker push (\S+?);", out)
    assert pushes == [
        "forgejo.viktorbarzin.me/viktor/chatterbox-tts:latest",
        f"forgejo.viktorbarzin.me/viktor/chatterbox-tts:{ref[:8]}",
    ]
    assert out.index("docker build") < out.index("docker push")


def test_one_variable_moves_both_images_to_another_registry():
    out = make("-n", "build-image", "build-gate", "push", "REGISTRY=registry.lan/me", "PLATFORM=linux/arm64").stdout
    assert "--platform linux/arm64 -f Dockerfile.cu128" in out and "--platform linux/arm64 -f Dockerfile.gate" in out
    assert re.findall(r"docker push (\S+?);", out) == [
        "registry.lan/me/chatterbox-tts:latest",
        "registry.lan/me/chatterbox-tts:68213e75",
        f"registry.lan/me/tts-gate:{gate.__version__}",
    ]


def test_the_upstream_ref_can_be_moved_from_the_command_line():
    out = make("-n", "build-image", "CHATTERBOX_REF=0123456789abcdef0123456789abcdef01234567").stdout
    assert "--build-arg CHATTERBOX_REF=0123456789abcdef0123456789abcdef01234567" in out
    assert "chatterbox-tts:01234567" in out


def test_build_gate_tags_the_package_version():
    out = make("-n", "build-gate").stdout
    assert f"-t forgejo.viktorbarzin.me/viktor/tts-gate:{gate.__version__} ." in out


def test_building_without_a_docker_engine_fails_early_and_clearly(tmp_path):
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake.chmod(0o755)
    result = make("build-image", f"DOCKER={fake}")
    assert result.returncode != 0
    assert "no Docker engine answers" in result.stderr
    missing = make("build-image", "DOCKER=/nonexistent/docker")
    assert "is not installed" in missing.stderr


def test_help_lists_every_target():
    out = make("help").stdout
    for target in ("venv", "test", "lint", "demo", "bench", "build-image", "build-gate", "push", "help"):
        assert re.search(rf"^  {target} ", out, re.M), target


def test_pins_agree_across_the_repository():
    chart = yaml.safe_load((ROOT / "chart" / "Chart.yaml").read_text())
    values = yaml.safe_load((ROOT / "chart" / "values.yaml").read_text())
    ref = dockerfile_arg("CHATTERBOX_REF")
    assert re.fullmatch(r"[0-9a-f]{40}", ref) and re.fullmatch(r"[0-9a-f]{40}", dockerfile_arg("CHATTERBOX_V2_REF"))
    assert chart["appVersion"] == ref
    assert values["gate"]["image"]["tag"] == gate.__version__
    # Both stages of the server image name the same commit.
    assert len(set(re.findall(r"^ARG CHATTERBOX_REF=(\S+)$", (ROOT / "Dockerfile.cu128").read_text(), re.M))) == 1


def test_server_image_requirements_are_all_pinned():
    lines = [line for line in (ROOT / "docker" / "requirements-cu128.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9._-]+(\[[a-z,]+\])?==[0-9][^ ]*", line) for line in lines), lines
    names = {line.split("==")[0].lower() for line in lines}
    assert {"torch", "torchaudio", "fastapi", "uvicorn", "transformers"} <= names


def final_stage(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the last stage: what the image runs with, continuation
    lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / dockerfile).read_text())
    instructions = [
        tuple((line.strip().split(None, 1) + [""])[:2]) for line in text.splitlines() if line.strip() and not line.strip().startswith("#")
    ]
    stages = [i for i, (op, _) in enumerate(instructions) if op.upper() == "FROM"]
    return [(op.upper(), args) for op, args in instructions[stages[-1] :]]


@pytest.mark.parametrize(
    ("dockerfile", "values_key"),
    [("Dockerfile.cu128", ("server", "podSecurityContext")), ("Dockerfile.gate", ("gate", "podSecurityContext"))],
)
def test_each_image_runs_as_the_non_root_user_the_chart_declares(dockerfile, values_key):
    """The last USER of the final stage is a numeric uid:gid other than root (runAsNonRoot can
    only verify a numeric one), and it is the uid and gid the chart runs the pod as."""
    users = [args for op, args in final_stage(dockerfile) if op == "USER"]
    assert users, f"{dockerfile}: the final stage sets no USER: it runs as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) != 0 and int(gid) != 0, users[-1]
    values = yaml.safe_load((ROOT / "chart" / "values.yaml").read_text())
    context = values[values_key[0]][values_key[1]]
    assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid))


def test_the_images_say_what_they_run_and_where_they_come_from():
    server = dict(final_stage("Dockerfile.cu128"))
    # Upstream's API, the layer's control port, its metrics (the chart's defaults).
    assert server["EXPOSE"] == "8004 8005 9403"
    assert server["CMD"] == '["python3", "-m", "tts_layer"]'
    labels = " ".join(args for op, args in final_stage("Dockerfile.cu128") if op == "LABEL")
    assert "org.opencontainers.image.revision" in labels and "org.opencontainers.image.source" in labels
    assert dict(final_stage("Dockerfile.gate"))["ENTRYPOINT"] == '["gate"]'


WHEEL_VENV = ROOT / os.environ.get("WHEEL_VENV", ".build/wheel-venv")


def test_the_gate_wheel_installs_into_a_clean_venv_and_runs():
    """`make test` builds the wheel and installs it, with only its runtime dependencies, into
    WHEEL_VENV (the network is the Makefile's business, not a test's)."""
    gate_script = WHEEL_VENV / "bin" / "gate"
    assert gate_script.exists(), f"no wheel install at {WHEEL_VENV}: `make test` builds it"
    result = subprocess.run([str(gate_script), "--help"], capture_output=True, text=True, cwd=WHEEL_VENV)
    assert result.returncode == 0, result.stderr
    for command in ("preflight", "guard", "down", "status"):
        assert command in result.stdout
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(WHEEL_VENV / "bin" / "python"), "list", "--format=json"],
        capture_output=True,
        text=True,
    )
    names = {package["name"].lower().replace("_", "-") for package in json.loads(listing.stdout)}
    assert "tts-gate" in names and {"typer", "requests", "prometheus-client", "pyyaml"} <= names
    # The runtime needs no test tool, no plotting library, no pip of its own.
    assert not names & {"matplotlib", "pytest", "helm-python-sdk", "pip"}
    installed = subprocess.run(
        [str(WHEEL_VENV / "bin" / "python"), "-c", "import gate, pathlib; print(pathlib.Path(gate.__file__).parent)"],
        capture_output=True,
        text=True,
        cwd=WHEEL_VENV,  # not this checkout, whose gate/ `python -c` would import first
    ).stdout.strip()
    assert "site-packages" in installed  # the wheel, not this checkout


SETUPTOOLS_DIR = ROOT / os.environ.get("SETUPTOOLS_DIR", ".build/server-setuptools")


def test_the_server_image_setuptools_still_ships_pkg_resources():
    """resemble-perth imports pkg_resources; without it perth's watermarker is None and chatterbox
    fails to build the model (setuptools 82 dropped it). `make test` downloads the locked wheel."""
    pins = re.findall(r"^setuptools==(\S+)$", (ROOT / "docker" / "requirements-cu128.txt").read_text(), re.M)
    assert len(pins) == 1, f"docker/requirements-cu128.txt must pin setuptools exactly once, found {pins}"
    wheels = sorted(SETUPTOOLS_DIR.glob(f"setuptools-{pins[0]}-*.whl"))
    assert wheels, f"no setuptools-{pins[0]} wheel in {SETUPTOOLS_DIR}: `make test` downloads it"
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = set(wheel.namelist())
    assert "pkg_resources/__init__.py" in names, (
        f"setuptools {pins[0]} ships no pkg_resources: pin setuptools<82 in docker/lock-overrides.txt"
    )
    assert re.search(r"^setuptools<82$", (ROOT / "docker" / "lock-overrides.txt").read_text(), re.M), (
        "the lock's override keeps setuptools<82"
    )
