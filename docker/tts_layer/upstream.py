"""What the layer needs of the pinned upstream, in one place: the names it wraps in the server's
`engine` module, the routes it guards in `server.py`, and the device-keyed caches in chatterbox-v2
that a park empties. `structure_problems` checks all of them without running upstream (the
server's files are read, not imported: importing them loads its config and opens its log), and
the image build fails on any problem it names (`python3 -m tts_layer.check`).
"""

from __future__ import annotations

import ast
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .fixes import ANALYZER, CONDITIONING, analyzer_unfit, find_class

log = logging.getLogger("tts_layer")

# engine.py: the functions the layer wraps, and the globals it reads.
ENGINE_FUNCTIONS = ("synthesize", "unload_model", "reload_model", "load_model")
ENGINE_GLOBALS = ("chatterbox_model", "MODEL_LOADED", "model_device")
# server.py: the routes that synthesize (refused while parked: 503 + Retry-After) and the ones
# that replace or drop the model (refused unless serving: 409).
SPEECH_ROUTES = (("POST", "/v1/audio/speech"), ("POST", "/tts"))
MODEL_ROUTES = (("POST", "/api/unload"), ("POST", "/restart_server"))
# chatterbox-v2's device-keyed caches outside the modules: (module, attribute, kind).
DEVICE_CACHES = (
    ("chatterbox.models.s3gen.s3gen", "get_resampler", "lru_cache"),
    ("chatterbox.models.s3gen.utils.mel", "mel_basis", "dict"),
    ("chatterbox.models.s3gen.utils.mel", "hann_window", "dict"),
)


@dataclass
class DeviceCache:
    """A device-keyed cache outside the modules: `clear` empties it and says how many entries went."""

    name: str
    clear: Callable[[], int]


def engine_problems(source: str) -> list[str]:
    """What engine.py lacks of ENGINE_FUNCTIONS and ENGINE_GLOBALS (module level)."""
    tree = ast.parse(source)
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assigned = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        assigned |= {target.id for target in targets if isinstance(target, ast.Name)}
    return [f"engine.py: no function {name}()" for name in ENGINE_FUNCTIONS if name not in functions] + [
        f"engine.py: no module-level {name}" for name in ENGINE_GLOBALS if name not in assigned
    ]


def server_problems(source: str) -> list[str]:
    """What server.py lacks: a module-level `app`, and each guarded route as @app.<method>(path)."""
    tree = ast.parse(source)
    problems = []
    if not any(isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "app" for t in n.targets) for n in tree.body):
        problems.append("server.py: no module-level app")
    routes = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Attribute)
                    and decorator.args
                    and isinstance(decorator.args[0], ast.Constant)
                ):
                    routes.add((decorator.func.attr.upper(), decorator.args[0].value))
    problems += [f"server.py: no route {method} {path}" for method, path in SPEECH_ROUTES + MODEL_ROUTES if (method, path) not in routes]
    return problems


def cache_problem(module_name: str, attribute: str, kind: str) -> str:
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        return f"{module_name} does not import ({type(error).__name__}: {error})"
    value = getattr(module, attribute, None)
    if kind == "lru_cache" and not callable(getattr(value, "cache_clear", None)):
        return f"{module_name}.{attribute} is not an lru_cache"
    if kind == "dict" and not isinstance(value, dict):
        return f"{module_name}.{attribute} is not a dict"
    return ""


def structure_problems(app_dir: Path) -> list[str]:
    """Everything the layer relies on that the installed chatterbox and the server in `app_dir`
    do not have, one line each ([] when all is there)."""
    problems = []
    for name, reader in (("engine.py", engine_problems), ("server.py", server_problems)):
        path = app_dir / name
        problems += reader(path.read_text()) if path.is_file() else [f"{path}: not found"]
    analyzer, why = find_class(*ANALYZER)
    problems.append(analyzer_unfit(analyzer) if analyzer else why)
    for module_name, class_name in CONDITIONING:
        cls, why = find_class(module_name, class_name)
        if cls is None:
            problems.append(why)
        elif not callable(getattr(cls, "prepare_conditionals", None)):
            problems.append(f"{class_name}.prepare_conditionals not found")
    problems += [cache_problem(*cache) for cache in DEVICE_CACHES]
    return [problem for problem in problems if problem]


def device_caches() -> list[DeviceCache]:
    """Each device-keyed cache that is where DEVICE_CACHES says; a missing one is
    logged and left out (a park then leaves its entries on the card)."""
    found = []
    for module_name, attribute, kind in DEVICE_CACHES:
        problem = cache_problem(module_name, attribute, kind)
        if problem:
            log.warning("a park will not empty %s.%s: %s", module_name, attribute, problem)
            continue
        value = getattr(importlib.import_module(module_name), attribute)
        found.append(DeviceCache(f"{module_name}.{attribute}", clear_lru(value) if kind == "lru_cache" else clear_dict(value)))
    return found


def clear_lru(function: Callable) -> Callable[[], int]:
    def clear() -> int:
        entries = function.cache_info().currsize
        function.cache_clear()
        return entries

    return clear


def clear_dict(table: dict) -> Callable[[], int]:
    def clear() -> int:
        entries = len(table)
        table.clear()
        return entries

    return clear
