"""The documents against what they describe: README.md, docs/*.md, chart/README.md's hand-written
top and `make demo`'s next steps. Every table of values, statuses, alerts or layers is held to its
source; every `helm install` of the chart sets both images and renders; every `gate` command that
can run here is run as printed; every local link and anchor resolves."""

from __future__ import annotations

import re
import shlex
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm import documents, one, render
from typer.testing import CliRunner

from gate import policy
from gate.cli import app
from gate.cycle import event_reason
from gate.report import REPLAY_COLUMNS
from gate.status import EXIT_STATUS_HELP, ExitStatus

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import demo  # noqa: E402
import nights  # noqa: E402

import bench  # noqa: E402

README = ROOT / "README.md"
OPERATING = ROOT / "docs" / "operating.md"
DEVELOPMENT = ROOT / "docs" / "development.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "chart" / "README.md"]
VALUES = yaml.safe_load((ROOT / "chart" / "values.yaml").read_text())
# What the documents' `$REGISTRY` stands for (the README sets it first).
REGISTRY = "registry.example.com/me"


def code_blocks(text: str) -> list[str]:
    """The shell blocks (```sh, ```bash or no language) of a markdown text."""
    blocks, current, language = [], None, ""
    for line in text.splitlines():
        fence = re.match(r"^ *```(\w*)", line)
        if fence and current is None:
            current, language = [], fence.group(1)
        elif fence:
            if language in ("", "sh", "bash"):
                blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def commands(block: str) -> list[str]:
    """The shell commands of a block: continuation lines joined, indentation and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    lines = [line.strip() for line in joined.splitlines()]
    return [" ".join(shlex.split(line, comments=True)) for line in lines if line and not line.startswith("#")]


def all_commands() -> list[tuple[str, str]]:
    """(where, command) for every shell command the documents and `make demo` print."""
    found = [(str(path.relative_to(ROOT)), cmd) for path in DOCUMENTS for block in code_blocks(path.read_text()) for cmd in commands(block)]
    steps = "\n".join(line for line in demo.NEXT_STEPS.splitlines() if not line.startswith("=="))
    found += [("make demo", cmd) for cmd in commands(steps)]
    return found


def test_the_readme_opens_with_make_demo_then_make_test():
    first = commands(code_blocks(README.read_text())[0])
    assert first[:2] == ["make demo", "make test"]


# -- install commands ------------------------------------------------------------------------------


def deep_set(values: dict[str, Any], dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    for key in path:
        values = values.setdefault(key, {})
    values[last] = value


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def my_values() -> dict[str, Any]:
    """The README's `my-values.yaml`: the yaml block of the Install step that names it."""
    text = README.read_text()
    step = text[text.index("(`my-values.yaml`)") :]
    block = re.search(r"```yaml\n(.*?)```", step, re.S)
    assert block, "README.md: the Install step's my-values.yaml block"
    return yaml.safe_load(textwrap.dedent(block.group(1)))


def install_values(command: str) -> dict[str, Any]:
    """The values a `helm install ... ./chart` command gives: -f files first, then --set, as Helm."""
    args = shlex.split(command.replace("$REGISTRY", REGISTRY))
    files, sets = [], []
    for flag, value in zip(args, args[1:], strict=False):
        if flag in ("-f", "--values"):
            files.append(my_values() if value == "my-values.yaml" else yaml.safe_load((ROOT / value).read_text()) or {})
        elif flag == "--set":
            sets.append(value.split("=", 1))
    values: dict[str, Any] = {}
    for layer in files:
        values = deep_merge(values, layer)
    for key, value in sets:
        deep_set(values, key, value)
    return values


INSTALLS = [(where, cmd) for where, cmd in all_commands() if re.match(r"helm install \S+ \./chart\b", cmd)]


def test_the_documents_show_the_install_command():
    assert {where for where, _ in INSTALLS} >= {"README.md", "chart/README.md", "make demo"}


@pytest.mark.parametrize(("where", "command"), INSTALLS, ids=[f"{w}:{i}" for i, (w, _) in enumerate(INSTALLS)])
def test_every_install_command_sets_both_images_and_renders(where, command):
    """Without the image values the controller sits in ImagePullBackOff on the owner's registry."""
    values = install_values(command)
    assert values.get("server", {}).get("image", {}).get("repository"), f"{where}: {command} does not set server.image.repository"
    assert values.get("gate", {}).get("image", {}).get("repository"), f"{where}: {command} does not set gate.image.repository"
    objects = documents(render(values))
    server = one(objects, "Deployment", "chatterbox-tts")["spec"]["template"]["spec"]["containers"]
    controller = one(objects, "Deployment", "tts-gate")["spec"]["template"]["spec"]["containers"][0]
    assert server[0]["image"].startswith(f"{REGISTRY}/chatterbox-tts:")
    assert controller["image"].startswith(f"{REGISTRY}/tts-gate:")


# -- gate commands, run as printed --------------------------------------------------------------

RUNNABLE = [
    (where, cmd)
    for where, cmd in all_commands()
    if re.match(r"(\.venv/bin/)?gate ", cmd) and not re.search(r"<|\.\.\.|https?://|--namespace", cmd)
]


def test_the_runnable_gate_commands_are_found():
    assert ("make demo", ".venv/bin/gate measure samples/baked/bake.csv") in RUNNABLE
    assert ("README.md", "gate measure samples/baked/bake.csv") in RUNNABLE


@pytest.mark.parametrize(("where", "command"), RUNNABLE, ids=[f"{w}:{c}" for w, c in RUNNABLE])
def test_every_gate_command_that_needs_no_cluster_runs_as_printed(where, command, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, shlex.split(command)[1:])
    assert result.exit_code == 0, f"{where}: {command}: {result.stderr}"


def test_the_bundled_bake_shows_the_floor_the_demo_replays():
    result = CliRunner().invoke(app, ["measure", str(ROOT / "samples" / "baked" / "bake.csv")])
    assert result.exit_code == 0, result.stderr
    floor = re.search(r"^floor to set +(\d+MiB) \(peak \+ headroom\)$", result.stdout, re.M).group(1)
    assert f"helm upgrade tts ./chart -n tts -f my-values.yaml --set gate.floor={floor}" in result.stdout
    assert f"--floor {floor}" in demo.NEXT_STEPS


def test_make_demo_lists_the_chart_as_it_renders():
    assert demo.OBJECTS.read_text() == demo.objects_listing(), "run: make demo-objects"
    listing = demo.OBJECTS.read_text()
    assert re.search(r"^  Deployment +tts-gate +replicas 1: the gate's controller", listing, re.M)
    assert re.search(r"^  Deployment +chatterbox-tts +replicas 0: the server, until the gate takes the card", listing, re.M)
    install, test = listing.split("== and helm test tts -n tts, afterwards:\n")
    assert "tts-test" not in install and re.fullmatch(r"  Pod +tts-test +gate check: .*\n", test)


def test_make_demo_explains_every_column_and_speaks_the_windows_time(capsys):
    demo.main()
    out = capsys.readouterr().out
    table = out[out.index("trace ") :]
    header = re.split(r"\s{2,}", table.splitlines()[0].strip())
    legend = REPLAY_COLUMNS
    assert [c for c in header[3:] if not re.search(rf"(^|, | ){c}\b", legend)] == []
    assert "what each did, on the window's clock (02:00-06:00 Europe/London, GMT that night):" in out
    # At 06:00 the sidecar's guard, already running, gives the card back before the down Job's pod starts.
    assert "  gate  02:00:00 preflight -> 1, 03:30:00 guard -> 0, 04:05:10 preflight -> 1, 06:00:00 guard -> 0" in out
    assert "Z " not in out[out.index("what each did") :]


def test_make_bench_ends_with_what_to_read():
    from gate.replay import NightSummary

    def night(policy: str, bake: int, breach: int = 0, wakes: int = 1, pods: int = 50) -> NightSummary:
        return NightSummary(
            "2026-11-14", policy, oracle_seconds=10_000, bake_seconds=bake, breach_seconds=breach, wakes=wakes, job_pods=pods
        )

    def shapes(gate: NightSummary) -> dict[str, NightSummary]:
        return {"controller": gate, "cronjobs": gate, "reentry": gate}

    rows = [
        bench.Row("calm", night("seed", 5000), shapes(night("gate", 9950, pods=50)), night("reactive", 10_000)),
        bench.Row("wakes", night("seed", 4000), shapes(night("gate", 9600, breach=12, wakes=2, pods=44)), night("reactive", 10_000)),
    ]
    text = bench.summary(rows, [("a target", True), ("wakes: a target", False)])
    assert text.splitlines()[0] == "What to read:"
    assert "on average: 0.978;" in text and "lowest 0.960 (wakes)" in text
    assert "worst 6 s (wakes)" in text and "at most 50." in text
    assert text.endswith("1 failed, first: wakes: a target")
    header = bench.table(rows).splitlines()[0]
    for column in re.findall(r"column '([^']+)'", text, re.I):
        assert column in header, column


def test_the_bundled_bake_is_what_the_generator_writes():
    for name, text in nights.baked():
        assert (ROOT / "samples" / "baked" / f"{name}.csv").read_text() == text, name


def test_the_status_check_is_repeatable():
    """A fixed job name collides on the second run: every documented one is made unique."""
    creates = [(where, cmd) for where, cmd in all_commands() if "create job --from=cronjob/" in cmd]
    assert creates
    for where, cmd in creates:
        name = cmd.split()[-1]
        assert name == "$job" or "$(date +%s)" in name, f"{where}: {cmd}"
    assert "job=gate-status-$(date +%s)" in README.read_text()


# -- tables held to their sources ------------------------------------------------------------------


def table(text: str, header: str) -> list[list[str]]:
    lines = text[text.index(header) :].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_exit_status_table_is_the_enum_and_its_help():
    help_lines = {}
    for line in EXIT_STATUS_HELP.splitlines()[1:]:
        code, meaning = line.split(None, 1)
        help_lines[int(code)] = meaning
    rows = table(OPERATING.read_text(), "| exit | meaning | look at |")
    assert [int(code) for code, *_ in rows] == list(help_lines)
    assert sorted(help_lines) == sorted(status.value for status in ExitStatus)
    for code, meaning, _ in rows:
        assert meaning == help_lines[int(code)], code


def test_the_events_named_are_the_gates():
    text = OPERATING.read_text()
    paragraph = text[text.index("Events on `deploy/chatterbox-tts`") : text.index("The sidecar serves")]
    named = set(re.findall(r"`((?:Preflight|Yield|Down)[A-Za-z]+)`", paragraph))
    possible = {
        event_reason(policy.Decision(command, reason, "")) for command in ("preflight", "guard", "down") for reason in policy.Reason
    }
    assert named and named <= possible, named - possible


def test_every_alert_has_its_runbook_section():
    alerts = re.findall(r"- alert: (\w+)", (ROOT / "chart" / "templates" / "_alerts.tpl").read_text())
    sections = re.findall(r"^### (\w+)$", OPERATING.read_text(), re.M)
    assert alerts and [a for a in alerts if a not in sections] == []
    listed = [row[0].strip("`") for row in table(OPERATING.read_text(), "| alert | fires when |")]
    assert sorted(listed) == sorted(alerts)


def shown(value: Any) -> str:
    """A default as the README's table writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return '""' if value == "" else str(value)


def test_the_readmes_values_table_is_values_yaml():
    rows = table(README.read_text(), "| value | needed | default | what it is |")
    assert len(rows) >= 15
    for key, needed, default, _ in rows:
        value: Any = VALUES
        for part in key.strip("`").split("."):
            assert isinstance(value, dict) and part in value, f"{key} is not in chart/values.yaml"
            value = value[part]
        assert default == f"`{shown(value)}`", key
        assert needed in ("required", "owner's default", "measure it", "if you build", "optional"), key


def test_the_owners_defaults_are_named_in_the_first_table_and_warned_of_in_notes():
    """One list (templates/_owner.tpl) behind the README's `owner's default` rows and NOTES' warning."""
    rows = table(README.read_text(), "| value | needed | default | what it is |")
    named = [key.strip("`") for key, needed, *_ in rows if needed == "owner's default"]
    source = (ROOT / "chart" / "templates" / "_owner.tpl").read_text()
    listed = re.findall(r'"([a-zA-Z]+\.[a-zA-Z.]+)" ', source[source.index('define "tts.ownersDefaults"') :].split("\n")[1])
    assert sorted(named) == sorted(listed) == ["gate.timeZone", "networkPolicy.clientNamespaces", "networkPolicy.monitoringNamespace"]
    notes = render({})["tts/templates/NOTES.txt"]
    for key in named:
        value: Any = VALUES
        for part in key.split("."):
            value = value[part]
        shown_in_notes = "{" + ",".join(value) + "}" if isinstance(value, list) else value
        assert f"  {key}={shown_in_notes}\n" in notes, key  # the warning names the value.yaml default
    mine = render(my_values())["tts/templates/NOTES.txt"]
    assert "owner's defaults" not in mine  # the README's values file answers every one


def test_the_module_map_is_the_import_contract():
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    layers = [{name.strip() for name in layer.split("|")} for layer in contract["layers"]]
    text = DEVELOPMENT.read_text()
    block = text[text.index("<!-- layers") : text.index("<!-- /layers -->")]
    items = re.findall(r"^\d+\. (.*?):", block, re.M)
    assert [set(re.findall(r"`(gate\.[\w.]+)`", item)) for item in items] == layers
    map_section = text[text.index("## Module map") : text.index("## Where a test goes")]
    modules = {f"gate.{p.stem}" for p in (ROOT / "gate").glob("*.py") if not p.stem.startswith("_")}
    modules |= {f"gate.{p.name}" for p in (ROOT / "gate").iterdir() if (p / "__init__.py").exists()}
    assert [m for m in sorted(modules) if f"`{m}`" not in map_section] == []


# -- links -----------------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in re.findall(r"^#+ (.*)$", re.sub(r"```.*?```", "", path.read_text(), flags=re.S), re.M)}


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_local_link_and_anchor_resolves(path):
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{path.name}: {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{path.name}: {target}"


def pointers(text: str) -> list[tuple[str, str]]:
    """(file, anchor) for each pointer to a document in plain text (comments, messages):
    `docs/operating.md#voices`, `README.md`, `chart/README.md#…`; anchor "" when none."""
    found = re.findall(r"(?<![\w/.-])((?:docs/[\w-]+|chart/README|README)\.md)(?:#([\w-]+))?", text)
    return [(file, anchor) for file, anchor in found]


CHART_TEXTS = sorted(
    [ROOT / "chart" / "values.yaml", *(ROOT / "chart" / "templates").rglob("*.tpl"), *(ROOT / "chart" / "templates").rglob("*.yaml")]
    + [ROOT / "chart" / "templates" / "NOTES.txt"]
)


@pytest.mark.parametrize("path", CHART_TEXTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_pointer_in_the_chart_resolves(path):
    """values.yaml's comments, the templates' messages and the alerts' annotations point at the
    documents by path and anchor; each must exist. A bare "the README" names no place: refused."""
    text = path.read_text()
    assert not re.search(r"\bthe README\b(?! (of|for))|\(README\)|README: ", text), f"{path.name}: a pointer with no file or section"
    for file, anchor in pointers(text):
        linked = ROOT / file
        assert linked.exists(), f"{path.name}: {file}"
        if anchor:
            assert anchor in anchors(linked), f"{path.name}: {file}#{anchor}"


def test_the_pointer_check_catches_a_stale_anchor():
    assert pointers("see docs/operating.md#no-such-section and README.md") == [("docs/operating.md", "no-such-section"), ("README.md", "")]
    assert "no-such-section" not in anchors(OPERATING)


def test_development_lists_every_gate_command():
    row = next(line for line in DEVELOPMENT.read_text().splitlines() if line.startswith("| `gate/` |"))
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert commands == {
        "preflight",
        "guard",
        "run",
        "down",
        "status",
        "pause",
        "resume",
        "try",
        "check-config",
        "check",
        "replay",
        "measure",
    }
    assert [c for c in sorted(commands) if f"`{c}`" not in row] == []


def test_the_plot_hint_names_the_install_the_readme_gives():
    from gate.plot import PLOT_INSTALL

    assert f"`{PLOT_INSTALL}`" in README.read_text()


# -- install day: the published chart, a request by hand, status from a workstation ------------------


def test_the_published_install_names_this_charts_version_where_the_release_pushes_it():
    import importlib.util

    spec = importlib.util.spec_from_file_location("release", ROOT / ".github" / "release.py")
    release = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(release)
    version = yaml.safe_load((ROOT / "chart" / "Chart.yaml").read_text())["version"]
    pushed = release.versions(f"v{version}", "ViktorBarzin")
    commands = [(w, c) for w, c in all_commands() if re.match(r"helm (install|upgrade) \S+ oci://", c)]
    assert {w for w, _ in commands} >= {"README.md"}
    for where, command in commands:
        args = shlex.split(command)
        assert args[3] == f"oci://{pushed['registry']}/charts/tts", f"{where}: {command}"
        assert args[args.index("--version") + 1] == version, f"{where}: {command}"
        assert args[args.index("-f") + 1] == "my-values.yaml"
    # The README's first install is the published one; building is the second.
    text = README.read_text()
    assert text.index("helm install tts oci://") < text.index("helm install tts ./chart")


def test_the_readmes_speech_request_gets_the_answer_it_shows(tmp_path):
    """The README's curl against a loopback stand-in answering as the pinned server does (its
    `/v1/audio/speech`: 200, `audio/wav`, PCM 16-bit mono at the config's 24000 Hz, written by
    soundfile), then the README's `file` on what came back."""
    import io
    import json
    import subprocess
    import wave

    from exporter import Answer, FakeExporter

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(24000)
        audio.writeframes(bytes(2 * 24000 * 2))
    text = README.read_text()
    block = next(b for b in code_blocks(text) if "/v1/audio/speech" in b)
    # Each line's words as the shell passes them (commands() rejoins them for reading).
    lines = [shlex.split(line, comments=True) for line in re.sub(r"\\\n\s*", " ", block).splitlines()]
    curl, file_cmd = (words for words in lines if words and words[0] in ("curl", "file"))
    expected_status = re.search(r"The answer is `([^`]+)`", text).group(1)
    expected_file = " ".join(re.search(r"then `(hello\.wav: RIFF[^`]+)`", text, re.S).group(1).split())
    with FakeExporter() as server:
        server.answers["/v1/audio/speech"] = Answer(buffer.getvalue(), content_type="audio/wav")
        args = [a.replace("http://127.0.0.1:8000", server.base_url) for a in curl]
        result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected_status
        [posted] = server.posted
    request = json.loads(posted)
    assert request == {"model": "chatterbox", "input": "Welcome to the old town.", "voice": "Emily.wav", "response_format": "wav"}
    described = subprocess.run(file_cmd, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert described.stdout.strip() == expected_file


def test_status_from_a_workstation_reads_the_clusters_settings_as_documented(exporter, kubeapi, tmp_path):
    """operating.md's pipeline: the ConfigMap as `kubectl get -o yaml` prints it, into `gate
    status --config -`, with the port-forwarded source given by flag (here the loopback exporter)."""
    import subprocess

    from exporter import fixture

    exporter.serve(fixture("gpu-pod-exporter.prom"))
    text = OPERATING.read_text()
    section = text[text.index("## gate status from a workstation") :]
    block = next(b for b in code_blocks(section) if "--config -" in b)
    pipeline = next(c for c in commands(block) if "| gate status" in c)
    status = shlex.split(pipeline.split("|", 1)[1])
    status[status.index("--metrics-url") + 1] = exporter.url
    configmap = one(documents(render({"gate": {"enabled": False, "floor": "7GiB"}})), "ConfigMap", "tts-gate-config")
    configmap["metadata"].update(resourceVersion="4242", uid="0d3c", creationTimestamp="2026-11-12T01:00:00Z")  # as the API serves it
    env = {"KUBECONFIG": kubeapi.kubeconfig(tmp_path / "kubeconfig"), "GATE_NOW": "2026-11-12T02:30:00Z", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "gate", *status[1:]],
        input=yaml.safe_dump(configmap),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^paused +yes, by enabled: false in the settings$", result.stdout, re.M), result.stdout
    assert re.search(r"^floor +7.00 GiB$", result.stdout, re.M), result.stdout
    assert re.search(r"^resident immich/", result.stdout, re.M)  # read through the flag's URL, not the file's in-cluster one
