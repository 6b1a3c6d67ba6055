"""helm-unittest suites (`chart/tests/*_test.yaml`) run through the real Helm engine.

Chart users run the same files with `helm unittest chart`. Here, without a helm binary, each
test job renders the chart with `helm.render` and checks the assertion kinds the suites use,
with helm-unittest's documented semantics (its DOCUMENT.md):

- the whole chart renders for every job; only the documents of the job's templates (suite
  `templates`, job `template(s)`, or the assertion's `template`) are asserted;
- `templates/` may be omitted from template names; release defaults are `RELEASE-NAME` in
  `NAMESPACE`; `set` keys are --set paths; `values` files are relative to the suite file;
- `documentIndex` -1 (the default) asserts every document; `not: true` inverts an assertion;
- kinds: equal, notEqual, exists, notExists, isKind, isAPIVersion, hasDocuments, contains,
  notContains, isSubset, isNotSubset, matchRegex, notMatchRegex, lengthEqual, isNullOrEmpty,
  isNotNullOrEmpty, failedTemplate (errorMessage or errorPattern), notFailedTemplate, matchRegexRaw (NOTES.txt).
A suite using anything else fails loudly rather than being half-checked.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from helm import render
from helm_python import HelmError

SUPPORTED_JOB_KEYS = {"it", "set", "values", "template", "templates", "documentIndex", "release", "capabilities", "asserts"}
SUPPORTED_SUITE_KEYS = {"suite", "templates", "tests", "set", "values", "release", "capabilities"}


class SuiteError(Exception):
    """The suite itself uses something this runner does not implement."""


@dataclass
class Job:
    suite_file: Path
    suite: dict[str, Any]
    job: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.suite_file.stem}: {self.job.get('it', '?')}"


def load_jobs(directory: Path) -> list[Job]:
    jobs = []
    for path in sorted(directory.glob("*_test.yaml")):
        suite = yaml.safe_load(path.read_text())
        unknown = set(suite) - SUPPORTED_SUITE_KEYS
        if unknown:
            raise SuiteError(f"{path.name}: unsupported suite keys {sorted(unknown)}")
        for job in suite["tests"]:
            jobs.append(Job(path, suite, job))
    return jobs


# -- values -------------------------------------------------------------------------------------


def _split_set_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for raw in re.split(r"(?<!\\)\.", path):
        key = raw.replace("\\.", ".")
        match = re.fullmatch(r"(.*?)((?:\[\d+\])+)", key)
        if match:
            parts.append(match.group(1))
            parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
        else:
            parts.append(key)
    return parts


def apply_set(values: dict[str, Any], path: str, value: Any) -> None:
    parts = _split_set_path(path)
    node: Any = values
    for part, following in zip(parts, parts[1:], strict=False):
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(part, int):
            while len(node) <= part:
                node.append(copy.deepcopy(empty))
            if node[part] is None:
                node[part] = empty
            node = node[part]
        else:
            if not isinstance(node.get(part), (dict, list)):
                node[part] = empty
            node = node[part]
    last = parts[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = copy.deepcopy(value)


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def job_values(job: Job) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for scope in (job.suite, job.job):
        for name in scope.get("values") or []:
            values = _merge(values, yaml.safe_load((job.suite_file.parent / name).read_text()) or {})
        for path, value in (scope.get("set") or {}).items():
            apply_set(values, path, value)
    return values


# -- paths --------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""\.?([^.\[\]]+)|\[(\d+)\]|\["([^"]*)"\]|\['([^']*)'\]|\[\?\(@\.([\w.-]+)\s*==\s*["']([^"']*)["']\)\]""")
_MISSING = object()


def lookup_path(document: Any, path: str) -> Any:
    """Follow a helm-unittest path: a.b[0]["c.d"] and [?(@.name == "x")] filters."""
    node = document
    position = 0
    while position < len(path):
        match = _TOKEN.match(path, position)
        if not match or match.end() == position:
            raise SuiteError(f"unsupported path syntax {path!r} at {path[position:]!r}")
        position = match.end()
        key, index, dq, sq, filter_key, filter_value = match.groups()
        if index is not None:
            if not isinstance(node, list) or int(index) >= len(node):
                return _MISSING
            node = node[int(index)]
        elif filter_key is not None:
            if not isinstance(node, list):
                return _MISSING
            hits = [item for item in node if isinstance(item, dict) and str(lookup_path(item, filter_key)) == filter_value]
            if not hits:
                return _MISSING
            node = hits[0]
        else:
            name = key if key is not None else (dq if dq is not None else sq)
            if not isinstance(node, dict) or name not in node:
                return _MISSING
            node = node[name]
    return node


def _is_subset(content: Any, actual: Any) -> bool:
    if isinstance(content, dict):
        return isinstance(actual, dict) and all(k in actual and _is_subset(v, actual[k]) for k, v in content.items())
    return content == actual


def _empty(value: Any) -> bool:
    return value is _MISSING or value in (None, "", 0, [], {})


# -- running ------------------------------------------------------------------------------------


def _template_key(name: str) -> str:
    name = name if name.startswith("templates/") else f"templates/{name}"
    return name


def run(job: Job) -> None:
    """Render and assert; raises AssertionError naming the assertion that failed."""
    unknown = set(job.job) - SUPPORTED_JOB_KEYS
    if unknown:
        raise SuiteError(f"{job.id}: unsupported test keys {sorted(unknown)}")
    release = {**(job.suite.get("release") or {}), **(job.job.get("release") or {})}
    capabilities = {**(job.suite.get("capabilities") or {}), **(job.job.get("capabilities") or {})}
    kube_version = "1.27"
    if "majorVersion" in capabilities or "minorVersion" in capabilities:
        kube_version = f"{capabilities.get('majorVersion', 1)}.{capabilities.get('minorVersion', 27)}"
    error: HelmError | None = None
    rendered: dict[str, str] = {}
    try:
        rendered = render(
            job_values(job),
            name=release.get("name", "RELEASE-NAME"),
            namespace=release.get("namespace", "NAMESPACE"),
            is_upgrade=bool(release.get("upgrade", False)),
            revision=int(release.get("revision", 1)),
            kube_version=kube_version,
            api_versions=capabilities.get("apiVersions") or [],
        )
    except HelmError as exc:
        error = exc
    by_template = {path.split("/", 1)[1]: text for path, text in rendered.items()}
    default_templates = job.job.get("templates") or ([job.job["template"]] if job.job.get("template") else None)
    default_templates = default_templates or job.suite.get("templates") or []
    for number, assertion in enumerate(job.job["asserts"], 1):
        options = {k: assertion[k] for k in ("not", "template", "documentIndex") if k in assertion}
        kinds = [k for k in assertion if k not in options]
        if len(kinds) != 1:
            raise SuiteError(f"{job.id}: assertion {number} needs exactly one kind, has {kinds}")
        kind = kinds[0]
        params = assertion[kind] or {}
        label = f"{job.id}: assertion {number} ({kind})"
        if kind in ("failedTemplate", "notFailedTemplate"):
            _check_failure(kind, params, error, bool(options.get("not")), label)
            continue
        if error is not None:
            raise AssertionError(f"{label}: the chart failed to render: {error}")
        templates = [options["template"]] if "template" in options else default_templates
        if not templates:
            raise SuiteError(f"{label}: no template named in the suite, the job or the assertion")
        for template in templates:
            key = _template_key(template)
            if key not in by_template:
                raise AssertionError(f"{label}: template {template} does not exist")
            text = by_template[key]
            if kind == "matchRegexRaw":
                _check(bool(re.search(params["pattern"], text)), options, f"{label}: {template} /{params['pattern']}/")
                continue
            documents = [d for d in yaml.safe_load_all(text) if d is not None]
            if kind == "hasDocuments":
                _check(len(documents) == params["count"], options, f"{label}: {template} has {len(documents)} documents")
                continue
            index = options.get("documentIndex", job.job.get("documentIndex", -1))
            selected = documents if index == -1 else documents[index : index + 1]
            if not selected:
                raise AssertionError(f"{label}: {template} rendered no document to assert")
            for document in selected:
                _assert_document(kind, params, document, options, f"{label}: {template}")


def _check(passed: bool, options: dict[str, Any], message: str) -> None:
    if passed == bool(options.get("not")):
        raise AssertionError(f"{message}{' (with not: true)' if options.get('not') else ''}")


def _check_failure(kind: str, params: dict[str, Any], error: HelmError | None, negate: bool, label: str) -> None:
    if kind == "notFailedTemplate":
        negate = not negate
        params = {}
    if error is None:
        passed = False
    elif "errorMessage" in params:
        # Like helm-unittest: the human-readable part, after the template location.
        text = str(error)
        readable = text.split("): ", 1)[1] if text.startswith("execution error at (") else text
        passed = readable.strip() == str(params["errorMessage"]).strip()
    elif "errorPattern" in params:
        passed = re.search(str(params["errorPattern"]), str(error)) is not None
    else:
        passed = True
    if passed == negate:
        raise AssertionError(f"{label}: render error {str(error)!r} vs expected {params.get('errorMessage', params.get('errorPattern'))!r}")


def _assert_document(kind: str, params: dict[str, Any], document: dict[str, Any], options: dict[str, Any], label: str) -> None:
    if kind == "isKind":
        _check(document.get("kind") == params["of"], options, f"{label}: kind is {document.get('kind')}")
        return
    if kind == "isAPIVersion":
        _check(document.get("apiVersion") == params["of"], options, f"{label}: apiVersion is {document.get('apiVersion')}")
        return
    path = params.get("path")
    if path is None:
        raise SuiteError(f"{label}: {kind} needs a path")
    actual = lookup_path(document, path)
    shown = "<missing>" if actual is _MISSING else repr(actual)
    where = f"{label} {path} = {shown}"
    if kind in ("equal", "notEqual"):
        passed = actual is not _MISSING and actual == params.get("value")
        _check(passed if kind == "equal" else not passed, options, f"{where}, expected {params.get('value')!r}")
    elif kind in ("exists", "notExists"):
        passed = actual is not _MISSING
        _check(passed if kind == "exists" else not passed, options, where)
    elif kind in ("isNullOrEmpty", "isNotNullOrEmpty"):
        passed = _empty(actual)
        _check(passed if kind == "isNullOrEmpty" else not passed, options, where)
    elif kind in ("contains", "notContains"):
        if not isinstance(actual, list):
            raise AssertionError(f"{where}: not a list")
        content = params["content"]
        match = _is_subset if params.get("any") else (lambda c, a: c == a)
        hits = sum(1 for item in actual if match(content, item))
        passed = hits == params["count"] if "count" in params else hits > 0
        _check(passed if kind == "contains" else not passed, options, f"{where}, content {content!r}")
    elif kind in ("isSubset", "isNotSubset"):
        passed = _is_subset(params["content"], actual)
        _check(passed if kind == "isSubset" else not passed, options, f"{where}, content {params['content']!r}")
    elif kind in ("matchRegex", "notMatchRegex"):
        if not isinstance(actual, str):
            raise AssertionError(f"{where}: not a string")
        passed = re.search(params["pattern"], actual) is not None
        _check(passed if kind == "matchRegex" else not passed, options, f"{where}, pattern {params['pattern']!r}")
    elif kind == "lengthEqual":
        passed = isinstance(actual, (list, dict)) and len(actual) == params["count"]
        _check(passed, options, f"{where}, expected length {params['count']}")
    else:
        raise SuiteError(f"{label}: assertion kind {kind!r} is not implemented by this runner")
