"""chart/files/warmup.py, the warm-up Job's script, run as the Job runs it (`python3 -c`, from the
server's working directory) against stand-ins of the server's modules.

The stand-ins reproduce, from the pinned server (devnen/Chatterbox-TTS-Server 68213e75, its
`config.py` and `engine.py`) and chatterbox-v2 (edbde2d, `tts.py`, `mtl_tts.py`,
`tts_turbo.py`), exactly what the script relies on:
- `config.config_manager.get_string("model.repo_id", "chatterbox-turbo")`, read from the
  config.yaml in the working directory;
- `engine._get_model_class(selector)` -> (model class, "original" | "turbo" | "multilingual");
- `cls.from_pretrained(device)` downloads into the Hugging Face cache and ends with
  `return cls.from_local(<the snapshot folder>, device)`, which loads the model.
The real modules need torch and the weights, which no test here has.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = (ROOT / "chart" / "files" / "warmup.py").read_text()

CONFIG = """
import yaml
class YamlConfigManager:
    def get_string(self, key_path, default=None):
        node = yaml.safe_load(open("config.yaml"))
        for part in key_path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return default if node is None else str(node)
config_manager = YamlConfigManager()
"""

ENGINE = """
import os
from pathlib import Path
LOADED = []
class ChatterboxMultilingualTTS:
    @classmethod
    def from_local(cls, ckpt_dir, device):
        raise SystemExit("the model was loaded: the warm-up must only download")
    @classmethod
    def from_pretrained(cls, device):
        if os.environ.get("HUB_FAILS"):
            raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")
        snapshot = Path(os.environ["HF_HOME"]) / "hub" / "models--ResembleAI--chatterbox" / "snapshots" / "abc"
        snapshot.mkdir(parents=True, exist_ok=True)
        for name, size in (("ve.pt", 1000), ("t3_mtl23ls_v2.safetensors", 5000), ("conds.pt", 24)):
            (snapshot / name).write_bytes(bytes(size))
        return cls.from_local(snapshot, device)
MODEL_SELECTOR_MAP = {"chatterbox-multilingual": "multilingual", "multilingual": "multilingual"}
def _get_model_class(selector):
    if MODEL_SELECTOR_MAP.get(selector.lower().strip()) != "multilingual":
        raise AssertionError(f"the stand-in knows only the multilingual model, not {selector!r}")
    return ChatterboxMultilingualTTS, "multilingual"
"""


@pytest.fixture
def server(tmp_path) -> dict[str, Path]:
    modules, workdir, data = tmp_path / "app", tmp_path / "workdir", tmp_path / "data"
    for folder in (modules, workdir, data):
        folder.mkdir()
    (modules / "config.py").write_text(textwrap.dedent(CONFIG))
    (modules / "engine.py").write_text(textwrap.dedent(ENGINE))
    (workdir / "config.yaml").write_text("model:\n  repo_id: chatterbox-multilingual\n")
    return {"modules": modules, "workdir": workdir, "data": data}


def run(server: dict[str, Path], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=server["workdir"],
        env={"PYTHONPATH": str(server["modules"]), "HF_HOME": str(server["data"] / "hf_cache"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_warmup_downloads_what_the_configured_model_loads_and_never_loads_it(server):
    result = run(server)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("warm-up: the multilingual model (chatterbox-multilingual) is in the cache: 3 files, 0.00 GiB in ")
    assert line.endswith(" s") and "/hf_cache/hub/models--ResembleAI--chatterbox/snapshots/abc" in line
    assert (server["data"] / "hf_cache" / "hub" / "models--ResembleAI--chatterbox" / "snapshots" / "abc" / "ve.pt").exists()


def test_a_failed_download_fails_the_job(server):
    result = run(server, HUB_FAILS="1")
    assert result.returncode != 0
    assert "couldn't connect to 'https://huggingface.co'" in result.stderr
    assert result.stdout == ""


def test_the_job_runs_the_script_the_chart_carries():
    from helm import documents, render

    [job] = [o for o in documents(render({})) if o["kind"] == "Job"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["python3", "-c", SCRIPT]
