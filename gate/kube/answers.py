"""What an answer from the API means: a 2xx answer must be the object asked for, checked far
enough that its readers cannot trip on its shape (anything else is KubeBadAnswer); any other
status is its KubeError (`errors.error_class`), with the API server's own message."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from gate.kube.errors import KubeBadAnswer, error_class


class Answer(NamedTuple):
    """An answer read whole: its status, its body (an error's cut at its cap), its reason phrase,
    and the seconds its Retry-After asks to wait (None: none, or not a valid one)."""

    status: int
    body: bytes
    reason: str | None
    retry_after: float | None


def api_object(answer: Answer, what: str, kind: str) -> dict[str, Any]:
    """A 2xx answer's object (`kind`, checked by `_expect`); any other status is its KubeError."""
    status = answer.status
    if 200 <= status < 300:
        try:
            document = json.loads(answer.body)
        except (ValueError, RecursionError) as exc:
            raise KubeBadAnswer(what, f"HTTP {status} with a body that is not JSON") from exc
        return _expect(document, kind, what, status)
    raise error_class(status)(
        what,
        f"HTTP {status}: {status_message(answer.body, answer.reason)}",
        status=status,
        retry_after=answer.retry_after,
    )


def _expect(document: Any, kind: str, what: str, status: int) -> dict[str, Any]:
    """The object asked for, checked far enough that its readers cannot trip on its shape."""
    if not isinstance(document, dict):
        raise KubeBadAnswer(what, f"HTTP {status} with JSON {_json_type(document)} instead of {_a(kind)}")
    if document.get("kind") != kind:
        raise KubeBadAnswer(what, f"HTTP {status} with kind {_short(document.get('kind'))} instead of {_a(kind)}")
    meta = document.get("metadata")
    if not isinstance(meta, dict):
        raise KubeBadAnswer(what, f"HTTP {status}: a {kind} without metadata")
    annotations = meta.get("annotations")
    if annotations is not None and not (isinstance(annotations, dict) and all(isinstance(v, str) for v in annotations.values())):
        raise KubeBadAnswer(what, f"HTTP {status}: a {kind} whose metadata.annotations is not a map of strings")
    if kind in ("Deployment", "Scale"):
        spec = document.get("spec")
        if not isinstance(spec, dict):
            raise KubeBadAnswer(what, f"HTTP {status}: a {kind} without spec")
        if "replicas" in spec and not _count(spec["replicas"]):
            raise KubeBadAnswer(what, f"HTTP {status}: a {kind} with spec.replicas {_short(spec['replicas'])}, not a count")
        status_part = document.get("status")
        if status_part is not None and not isinstance(status_part, dict):
            raise KubeBadAnswer(what, f"HTTP {status}: a {kind} whose status is not an object")
        for key, value in (status_part or {}).items():
            if key.endswith("eplicas") and value is not None and not _count(value):
                raise KubeBadAnswer(what, f"HTTP {status}: a {kind} with status.{key} {_short(value)}, not a count")
    return document


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "AEIOU" else f"a {kind}"


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(type(value), "a value")


def _short(value: Any) -> str:
    return json.dumps(value)[:64] if value is not None else "none"


def status_message(body: bytes, reason: str | None) -> str:
    """The `message` of a metav1.Status body, else the body itself cut to 256 characters."""
    try:
        status = json.loads(body)
    except (ValueError, RecursionError):
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status" and status.get("message"):
        return " ".join(str(status["message"]).split())[:1024]
    text = " ".join(body.decode("utf-8", errors="replace").split())
    return text[:256] or reason or "no message"
