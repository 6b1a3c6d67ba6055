"""The settings document: read within a bound, checked to be the gate's own and whole (its
header and its seal), parsed as YAML without anchors or aliases, each value given its meaning
once. The format is the package's docstring."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gate.settings.meaning import Given, InvalidSettings, Problem, parse_values, settle, shown
from gate.settings.row import Origin
from gate.settings.table import BY_KEY
from gate.units import InvalidValue

API_VERSION = "tts.gate/v1"
HEADER = f"apiVersion: {API_VERSION}"
SEAL_PREFIX = "# sha256:"
# The largest document the table can make valid (each of its ~30 values at most 4096
# characters) is under 128 KiB; the ConfigMap's own limit (1 MiB) would let a file cost over 10 s
# of YAML parsing here (pure Python, which the alias check needs), past the watchdog's bound
# under the chart's CPU limit. Reading stops at the cap + 1 byte, whatever is behind the path.
MAX_BYTES = 128 * 2**10
MAX_STREAM_BYTES = 16 * 2**20  # `helm template` output on stdin (check-config, offline): every object of the chart
MAX_DEPTH = 8  # the document nests two levels; YAML nested deeper is no settings document
MAX_NODES = 512  # the document has about 45 nodes
MAX_STREAM_DEPTH = 64  # a Kubernetes object nests deeper (a pod template)
_SEAL_LINE = re.compile(r"\n# sha256:([0-9a-f]{64})\n?\Z")
SEAL_HOW = "`gate check-config --seal FILE` seals a hand-written file"


def content_hash(text: str) -> str:
    """The short hash logs and metrics name a document by."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def seal_of(body: str) -> str:
    """The seal line's hex: sha256 of every byte above the seal line (as Helm's sha256sum)."""
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Document:
    """A settings document that passed `load`: its values as written and their meaning, by key."""

    values: Mapping[str, Any] = field(default_factory=dict)
    path: str | None = None
    hash: str | None = None
    given: Given = field(default_factory=Given)


# -- reading within a bound ----------------------------------------------------------------------


def read_bytes(path: str, limit: int = MAX_BYTES) -> bytes:
    """At most `limit` + 1 bytes of `path` (a FIFO, /dev/zero or a huge file cannot hold the
    read); more than `limit` is refused. Read through the path each time: a mounted ConfigMap
    changes by swapping its `..data` link."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InvalidValue(
            f"cannot read the settings file {shown(path)}: {exc.strerror}; expected a YAML file, e.g. the chart's gate.yaml"
        ) from exc
    if len(data) > limit:
        raise InvalidValue(f"{path}: larger than {limit // 2**10} KiB, more than any settings document; not the gate's settings")
    return data


def read_stdin(limit: int = MAX_STREAM_BYTES) -> bytes:
    import sys

    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        raise InvalidValue(f"-: more than {limit // 2**20} MiB on stdin; expected a settings document or `helm template` output")
    return data


def decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidValue(f"{where}: not UTF-8 text (byte {exc.start}); expected the gate's settings document") from exc


# -- YAML, without anchors, aliases or depth ---------------------------------------------------------


@functools.cache
def _loader(max_depth: int, max_nodes: int | None) -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that refuses anchors and aliases (a few hundred bytes of them expand to
        billions of nodes), nesting deeper than `max_depth` and more than `max_nodes` nodes:
        it stops at the first node past a bound, before scanning the rest."""

        depth = 0
        nodes = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise yaml.composer.ComposerError(
                    None, None, "anchors and aliases (&name, *name) are not allowed in a settings document", event.start_mark
                )
            self.nodes += 1
            if max_nodes is not None and self.nodes > max_nodes:
                raise yaml.composer.ComposerError(None, None, f"more than {max_nodes} values", event.start_mark)
            self.depth += 1
            try:
                if self.depth > max_depth:
                    raise yaml.composer.ComposerError(None, None, f"nested deeper than {max_depth} levels", event.start_mark)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    return Loader


def yaml_load(text: str, where: str, many: bool = False) -> Any:
    """One YAML document (or all of a stream), or InvalidValue in one line naming the line."""
    import yaml

    try:
        if many:
            return list(yaml.load_all(text, Loader=_loader(MAX_STREAM_DEPTH, None)))  # noqa: S506 - a SafeLoader, stricter
        return yaml.load(text, Loader=_loader(MAX_DEPTH, MAX_NODES))  # noqa: S506 - a SafeLoader, stricter
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        what = "refused" if isinstance(exc, yaml.composer.ComposerError) else "not YAML"
        raise InvalidValue(f"{where}: {what}{at}: {shown(problem)[1:-1]}; expected the gate's settings, e.g. floor: 6GiB") from exc
    except RecursionError as exc:
        raise InvalidValue(f"{where}: nested too deep to be the gate's settings") from exc


# -- the document ------------------------------------------------------------------------------------


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"demand": {"url": x}} -> {"demand.url": x}; a mapping where a setting is stays a value."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and path not in BY_KEY:
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = document
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return document


def unseal(text: str, where: str) -> str:
    """The body above the seal, once the seal is found and matches it; else InvalidValue saying
    the file is empty, cut short, edited by hand or not the gate's own, and how to seal one."""
    if not text.strip():
        raise InvalidValue(f"{where}: empty; expected the gate's settings document ({HEADER} ... {SEAL_PREFIX}<hex>); {SEAL_HOW}")
    match = _SEAL_LINE.search(text)
    if match is None:
        raise InvalidValue(
            f"{where}: no seal on its last line ({SEAL_PREFIX}<hex>): cut short, or not a document the chart rendered; {SEAL_HOW}"
        )
    body = text[: match.start() + 1]
    if seal_of(body) != match.group(1):
        raise InvalidValue(f"{where}: its seal does not match its content: cut short, or edited since it was sealed; {SEAL_HOW}")
    return body


def load_text(text: str, where: str) -> Document:
    """Check, parse and give meaning to a whole sealed document; InvalidValue (one line, naming
    `where` and each problem) otherwise. Nothing of a refused document is used."""
    return _load_body(unseal(text, where), where, content_hash(text))


def _load_body(body: str, where: str, digest: str) -> Document:
    first = body.split("\n", 1)[0].rstrip()
    if first.startswith("apiVersion: tts.gate/") and first != HEADER:
        raise InvalidValue(f"{where}: {shown(first)}: written for another gate; this one reads {API_VERSION}")
    if first != HEADER:
        raise InvalidValue(f"{where}: not the gate's settings: its first line is {shown(first)}, not {HEADER}; {SEAL_HOW}")
    raw = yaml_load(body, where)
    if not isinstance(raw, Mapping):
        raise InvalidValue(f"{where}: expected a mapping of the gate's settings, e.g. floor: 6GiB; got {type(raw).__name__}")
    raw = dict(raw)
    version = raw.pop("apiVersion", None)
    if version != API_VERSION:
        raise InvalidValue(f"{where}: apiVersion {shown(version)}: written for another gate; this one reads {API_VERSION}")
    flat = flatten(raw)
    try:
        given = parse_values({key: (value, Origin.FILE) for key, value in flat.items()})
        settle(given, path=where)  # what the file says, over the defaults, must hold alone
    except InvalidSettings as exc:
        raise InvalidSettings(exc.problems, where) from exc
    return Document(flat, where, digest, given)


def load(path: str) -> Document:
    """Read and check the document at `path` ("-" is stdin: a document, or `helm template`
    output holding the chart's ConfigMap)."""
    if path == "-":
        return load_text(_from_stream(decode(read_stdin(), "-")), "-")
    return load_text(decode(read_bytes(path), path), path)


def _from_stream(text: str) -> str:
    """A settings document, or a stream of Kubernetes objects (`helm template ... |`): then the
    one ConfigMap's `gate.yaml`."""
    if text.startswith(HEADER):
        return text
    objects = [d for d in yaml_load(text, "-", many=True) if d is not None]
    if not any(isinstance(d, Mapping) and "kind" in d for d in objects):
        return text  # no Kubernetes object: load_text says what is wrong with it
    found = [
        d["data"]["gate.yaml"]
        for d in objects
        if isinstance(d, dict) and d.get("kind") == "ConfigMap" and "gate.yaml" in (d.get("data") or {})
    ]
    if len(found) != 1:
        raise InvalidValue(f"-: expected a settings document or objects with one ConfigMap holding gate.yaml, found {len(found)}")
    return found[0]


# -- sealing a hand-written document -----------------------------------------------------------------


def seal(text: str, where: str = "-") -> str:
    """A hand-written document with the header (added when missing) and its seal (an old seal
    line replaced), once it passes `load`; InvalidValue otherwise."""
    body = re.sub(r"\n?# sha256:[0-9a-f]*\s*\Z", "\n", text.rstrip("\n") + "\n")
    if not body.startswith(HEADER):
        body = f"{HEADER}\n{body}"
    sealed = f"{body}{SEAL_PREFIX}{seal_of(body)}\n"
    load_text(sealed, where)
    return sealed


def seal_file(path: str) -> Document:
    """`gate check-config --seal FILE`: the file sealed in place (atomically), once it passes."""
    sealed = seal(decode(read_bytes(path), path), path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".gate-seal-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(sealed)
        os.chmod(temporary, os.stat(path).st_mode & 0o777)
        os.replace(temporary, path)
    except OSError as exc:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise InvalidValue(f"cannot write {shown(path)}: {exc.strerror}") from exc
    return load_text(sealed, path)


__all__ = ["API_VERSION", "Document", "Problem", "flatten", "load", "load_text", "nest", "seal", "seal_file", "unseal"]
