"""Putting the layer around upstream's server: settings from the environment, the engine's
functions wrapped (counted, guarded by the park), the live metrics, the two ports, the ASGI
wrapper. `__main__` runs it; the tests run the same functions against stand-ins."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch

from . import tensors
from .metrics import ServerMetrics, rss_bytes
from .parking import Controller, ParkAbort
from .settings import SettingError, Settings

__all__ = ["SettingError", "Settings", "bind_engine", "hooks_on", "live_metrics"]

log = logging.getLogger("tts_layer")


def hooks_on(model: object | None) -> int | None:
    """Forward and pre-forward hooks on the model's modules (each module once)."""
    if model is None:
        return None
    seen, count = set(), 0
    for root in tensors.modules_of(model):
        for module in root.modules():
            if id(module) not in seen:
                seen.add(id(module))
                count += len(module._forward_hooks) + len(module._forward_pre_hooks)
    return count


def bind_engine(engine, controller: Controller, metrics: ServerMetrics) -> None:
    """Wrap upstream's engine.synthesize (guarded and counted) and its unload/reload (guarded)."""
    synthesize, unload_model, reload_model = engine.synthesize, engine.unload_model, engine.reload_model

    def counted_synthesize(*args, **kwargs):
        with controller.synthesis():
            started = time.monotonic()
            try:
                wav, sample_rate = synthesize(*args, **kwargs)
            except ParkAbort:
                metrics.chunks.labels("aborted").inc()
                raise
            took = time.monotonic() - started
        if wav is None or not sample_rate:
            metrics.chunks.labels("failed").inc()
            metrics.errors.labels("synthesis").inc()
        else:
            metrics.chunk_done(took, wav.shape[-1] / sample_rate)
        return wav, sample_rate

    def guarded_unload():
        with controller.model_change("unload"):
            return unload_model()

    def guarded_reload():
        with controller.model_change("reload"):
            return reload_model()

    engine.synthesize, engine.unload_model, engine.reload_model = counted_synthesize, guarded_unload, guarded_reload


def device_memory() -> dict[str, int] | None:
    if not tensors.cuda_ready():
        return None
    return {"allocated": torch.cuda.memory_allocated(), "reserved": torch.cuda.memory_reserved()}


def live_metrics(metrics: ServerMetrics, controller: Controller, model: Callable[[], object | None]) -> None:
    metrics.add_live(
        {
            "tts_server_host_memory_bytes": ("Resident set of the server process", rss_bytes),
            "tts_server_model_hooks": ("Forward and pre-forward hooks on the loaded model's modules", lambda: hooks_on(model())),
            "tts_server_device_memory_bytes": ("Bytes this process holds on its card, by kind", device_memory),
            "tts_server_model_host_bytes": (
                "The parked model's copy in host memory",
                lambda: controller.host.nbytes if controller.host is not None else 0,
            ),
        }
    )
