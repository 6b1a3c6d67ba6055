"""Fixes to upstream's model classes, applied at start-up by wrapping their methods (upstream's
files are never changed), each only where it finds the structure it was written for.

- attention-hooks: chatterbox-v2's AlignmentStreamAnalyzer registers a forward hook on three
  attention layers in `_add_attention_spy` and drops the handle; T3.inference builds a new analyzer
  on every multilingual generate(), so every call leaves three more hooks that run (and copy an
  attention map to the host) on every later step. The fix remembers which hooks an analyzer's spy
  added to each transformer and removes them when the next analyzer is built on it: the model
  keeps exactly the live analyzer's three.
- conditioning-inference-mode: prepare_conditionals runs outside inference_mode, so the voice
  conditionals it keeps between requests (s3gen's reference embedding) hold an autograd graph
  (~268 MB measured). The fix runs it under torch.inference_mode().

A fix whose structure is missing (a renamed class or method, a changed signature) logs one line
and is not applied: the server runs as upstream made it. The image build runs `python3 -m
tts_layer.check`, which fails on the same finding, so the pin is never moved blind.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("tts_layer")

ANALYZER = ("chatterbox.models.t3.inference.alignment_stream_analyzer", "AlignmentStreamAnalyzer")
# prepare_conditionals of every model class the server can load (model.repo_id).
CONDITIONING = (
    ("chatterbox.mtl_tts", "ChatterboxMultilingualTTS"),
    ("chatterbox.tts", "ChatterboxTTS"),
    ("chatterbox.tts_turbo", "ChatterboxTurboTTS"),
)
# Marks a wrapped method, so applying twice wraps once.
WRAPPED = "__tts_layer_fix__"


@dataclass
class FixResult:
    name: str
    applied: bool
    reason: str = ""


def find_class(module_name: str, class_name: str) -> tuple[type | None, str]:
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # ImportError, or anything the import raises
        return None, f"{module_name} does not import ({type(error).__name__}: {error})"
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        return None, f"{module_name}.{class_name} not found"
    return cls, ""


def parameters(function: Callable) -> list[str]:
    return list(inspect.signature(function).parameters)


# -- attention hooks ---------------------------------------------------------------------------


def analyzer_unfit(cls: type) -> str:
    """Why the hook fix does not fit this AlignmentStreamAnalyzer ("" when it does)."""
    spy = getattr(cls, "_add_attention_spy", None)
    if not callable(spy):
        return f"{cls.__name__}._add_attention_spy not found"
    if parameters(spy)[:5] != ["self", "tfmr", "buffer_idx", "layer_idx", "head_idx"]:
        return f"{cls.__name__}._add_attention_spy{inspect.signature(spy)}: expected (self, tfmr, buffer_idx, layer_idx, head_idx)"
    if parameters(cls.__init__)[:2] != ["self", "tfmr"]:
        return f"{cls.__name__}.__init__{inspect.signature(cls.__init__)}: expected (self, tfmr, ...)"
    return ""


class SpyRegistry:
    """The hooks each transformer's last analyzer added: (module, hook id) per transformer."""

    def __init__(self) -> None:
        self.added: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.lock = threading.Lock()
        self.removed = 0
        self.unfit_logged = False

    def remember(self, tfmr: object, module: object, keys: list[int]) -> None:
        with self.lock:
            self.added.setdefault(tfmr, []).extend((weakref.ref(module), key) for key in keys)

    def forget(self, tfmr: object) -> int:
        """Remove the hooks the previous analyzer on `tfmr` added; how many went."""
        with self.lock:
            entries = self.added.pop(tfmr, [])
        count = 0
        for module_ref, key in entries:
            module = module_ref()
            if module is None:
                continue
            for hooks in ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called"):
                table = getattr(module, hooks, None)
                if isinstance(table, dict) and table.pop(key, None) is not None and hooks == "_forward_hooks":
                    count += 1
        self.removed += count
        return count


def fix_attention_hooks(cls: type, registry: SpyRegistry) -> FixResult:
    name = "attention-hooks"
    unfit = analyzer_unfit(cls)
    if unfit:
        return FixResult(name, False, unfit)
    if getattr(cls._add_attention_spy, WRAPPED, False):
        return FixResult(name, True, "already applied")
    original_spy, original_init = cls._add_attention_spy, cls.__init__

    @functools.wraps(original_spy)
    def _add_attention_spy(self, tfmr, buffer_idx, layer_idx, head_idx, *args, **kwargs):
        try:
            target = tfmr.layers[layer_idx].self_attn
            before = set(target._forward_hooks)
        except (AttributeError, IndexError, KeyError, TypeError) as error:
            if not registry.unfit_logged:
                registry.unfit_logged = True
                log.warning("fix attention-hooks not applied at run time: tfmr.layers[%s].self_attn: %s", layer_idx, error)
            return original_spy(self, tfmr, buffer_idx, layer_idx, head_idx, *args, **kwargs)
        result = original_spy(self, tfmr, buffer_idx, layer_idx, head_idx, *args, **kwargs)
        registry.remember(tfmr, target, [key for key in target._forward_hooks if key not in before])
        return result

    @functools.wraps(original_init)
    def __init__(self, tfmr, *args, **kwargs):
        registry.forget(tfmr)
        original_init(self, tfmr, *args, **kwargs)

    setattr(_add_attention_spy, WRAPPED, True)
    cls._add_attention_spy = _add_attention_spy
    cls.__init__ = __init__
    return FixResult(name, True)


# -- conditioning under inference_mode ---------------------------------------------------------


def under_inference_mode(original: Callable, inference_mode: Callable) -> Callable:
    @functools.wraps(original)
    def prepare_conditionals(self, *args, **kwargs):
        with inference_mode():
            return original(self, *args, **kwargs)

    setattr(prepare_conditionals, WRAPPED, True)
    return prepare_conditionals


def fix_conditioning(classes: list[type]) -> FixResult:
    name = "conditioning-inference-mode"
    missing = [cls.__name__ for cls in classes if not callable(getattr(cls, "prepare_conditionals", None))]
    if missing or not classes:
        return FixResult(name, False, f"prepare_conditionals not found on {', '.join(missing) or 'any model class'}")
    import torch

    for cls in classes:
        if not getattr(cls.prepare_conditionals, WRAPPED, False):
            cls.prepare_conditionals = under_inference_mode(cls.prepare_conditionals, torch.inference_mode)
    return FixResult(name, True)


# -- all of them -------------------------------------------------------------------------------


SPIES = SpyRegistry()


def apply_all(registry: SpyRegistry = SPIES) -> list[FixResult]:
    """Apply every fix that fits; log one line for each that does not."""
    results = []
    analyzer, why = find_class(*ANALYZER)
    results.append(fix_attention_hooks(analyzer, registry) if analyzer else FixResult("attention-hooks", False, why))
    classes, missing = [], []
    for module_name, class_name in CONDITIONING:
        cls, why = find_class(module_name, class_name)
        (classes.append(cls) if cls else missing.append(why))
    results.append(FixResult("conditioning-inference-mode", False, "; ".join(missing)) if missing else fix_conditioning(classes))
    for result in results:
        if result.applied:
            log.info("fix %s applied", result.name)
        else:
            log.warning("fix %s not applied, the server runs as upstream made it: %s", result.name, result.reason)
    return results
