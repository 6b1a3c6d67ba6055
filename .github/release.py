"""What .github/workflows/release.yml publishes, decided here where it can be tested
(tests/test_release.py) and run with the runner's own python3 (standard library only).

`versions --tag vX.Y.Z --owner OWNER` checks that the tag is the chart's version and prints, as
`key=value` lines for $GITHUB_OUTPUT, the images to push: the names and tags the chart's defaults
render (chart/values.yaml's repositories, renamed into ghcr.io/<owner>; the server's tag is
appVersion's first 8 characters, the gate's its package version).

`chart --registry R --server-digest D --gate-digest D --out DIR` writes the chart as it is
published: a copy whose defaults are the images just pushed, pinned by their digests (a tag can
be pushed again; a digest cannot change), with Chart.yaml's Artifact Hub image list and the
README's table saying the same. Comments stay: `helm show values` is read by people. Helm
packages and pushes the copy.

A refusal is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "chart"
REGISTRY = "ghcr.io"
# The two images the chart runs, by their keys in values.yaml.
IMAGES = ("server", "gate")


class Refused(Exception):
    """A release that must not happen, and why (one line)."""


def chart_field(name: str) -> str:
    """A top-level scalar of Chart.yaml (`version`, `appVersion`)."""
    match = re.search(rf"^{name}: *\"?([^\"\n]+)\"?$", (CHART / "Chart.yaml").read_text(), re.M)
    if not match:
        raise Refused(f"chart/Chart.yaml has no {name}")
    return match.group(1).strip()


def gate_version() -> str:
    match = re.search(r'^__version__ = "(.+)"$', (ROOT / "gate" / "__init__.py").read_text(), re.M)
    assert match, "gate/__init__.py has no __version__"
    return match.group(1)


def value_lines(text: str) -> list[tuple[int, str, re.Match[str] | None]]:
    """Each line of a values.yaml with the dotted path of the key it sets (None for comments,
    list items and blank lines). Block mappings only, as values.yaml is written."""
    stack: list[tuple[int, str]] = []
    out: list[tuple[int, str, re.Match[str] | None]] = []
    for number, line in enumerate(text.splitlines(keepends=True)):
        match = re.match(r"^( *)([A-Za-z0-9_./-]+):( *)(.*?)(\r?\n)?$", line)
        if not match or line.lstrip().startswith("#"):
            out.append((number, "", None))
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match.group(2)))
        out.append((number, ".".join(key for _, key in stack), match))
    return out


def default_values(paths: tuple[str, ...]) -> dict[str, str]:
    """The defaults values.yaml gives these paths (scalars, unquoted)."""
    found = {
        path: match.group(4).strip().strip('"') for _, path, match in value_lines((CHART / "values.yaml").read_text()) if path in paths
    }
    missing = [p for p in paths if p not in found]
    if missing:
        raise Refused(f"chart/values.yaml has no {', '.join(missing)}")
    return found


def set_values(text: str, changes: dict[str, str]) -> str:
    """`text` (a values.yaml) with these scalar paths set to these strings; comments kept."""
    lines = text.splitlines(keepends=True)
    done = set()
    for number, path, match in value_lines(text):
        if match is not None and path in changes:
            lines[number] = f"{match.group(1)}{match.group(2)}: {json.dumps(changes[path])}{match.group(5) or ''}"
            done.add(path)
    missing = sorted(set(changes) - done)
    if missing:
        raise Refused(f"chart/values.yaml has no {', '.join(missing)}")
    return "".join(lines)


def images(owner: str) -> dict[str, tuple[str, str]]:
    """image key -> (the repository it is pushed to, the tag the chart's defaults render)."""
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", owner):
        raise Refused(f"owner {owner!r} is not a GitHub account name")
    keys = tuple(f"{image}.image.{field}" for image in IMAGES for field in ("repository", "tag"))
    defaults = default_values(keys)
    tags = {"server": defaults["server.image.tag"] or chart_field("appVersion")[:8], "gate": defaults["gate.image.tag"]}
    if tags["gate"] != gate_version():
        raise Refused(f"gate.image.tag {tags['gate']!r} is not the gate's version {gate_version()!r} (gate/__init__.py)")
    registry = f"{REGISTRY}/{owner.lower()}"
    return {image: (f"{registry}/{defaults[f'{image}.image.repository'].rsplit('/', 1)[-1]}", tags[image]) for image in IMAGES}


def versions(tag: str, owner: str) -> dict[str, str]:
    version = chart_field("version")
    if tag != f"v{version}":
        raise Refused(f"tag {tag!r} is not the chart's version: push v{version} (chart/Chart.yaml), or bump the chart first")
    pushed = images(owner)
    return {
        "chart_version": version,
        "registry": f"{REGISTRY}/{owner.lower()}",
        "chatterbox_ref": chart_field("appVersion"),
        **{f"{image}_{part}": value for image, pair in pushed.items() for part, value in zip(("image", "tag"), pair, strict=True)},
    }


def release_chart(out: Path, owner: str, digests: dict[str, str]) -> Path:
    """The chart as published, in `out`/tts: its images the ones pushed, pinned by digest."""
    for image, digest in digests.items():
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise Refused(f"{image} digest {digest!r} is not sha256:<64 hex digits>")
    pushed = images(owner)
    defaults = default_values(tuple(f"{image}.image.repository" for image in IMAGES))
    target = out / "tts"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(CHART, target)
    changes = {}
    for image in IMAGES:
        changes[f"{image}.image.repository"] = pushed[image][0]
        changes[f"{image}.image.digest"] = digests[image]
    values = target / "values.yaml"
    values.write_text(set_values(values.read_text(), changes))
    chart_yaml, readme = target / "Chart.yaml", target / "README.md"
    meta, text = chart_yaml.read_text(), readme.read_text()
    for image in IMAGES:
        old, (new, tag) = defaults[f"{image}.image.repository"], pushed[image]
        # Artifact Hub's list names what the chart runs: now the digest.
        meta = meta.replace(f"image: {old}:{tag}", f"image: {new}@{digests[image]}")
    for path, value in changes.items():
        # The parameters table's row: its default, the last cell.
        text = re.sub(rf"^(\| `{re.escape(path)}` +\|[^|\n]*\| )`[^`\n]*`( *\|)$", rf"\g<1>`{value}`\g<2>", text, flags=re.M)
    chart_yaml.write_text(meta)
    readme.write_text(text)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("versions", help="check the tag; print what to push (key=value lines)")
    check.add_argument("--tag", required=True)
    check.add_argument("--owner", required=True)
    write = commands.add_parser("chart", help="write the chart as published; print its folder")
    write.add_argument("--owner", required=True)
    write.add_argument("--server-digest", required=True)
    write.add_argument("--gate-digest", required=True)
    write.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "versions":
            print("\n".join(f"{key}={value}" for key, value in versions(args.tag, args.owner).items()))
        else:
            print(release_chart(args.out, args.owner, {"server": args.server_digest, "gate": args.gate_digest}))
    except Refused as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
