"""Moving a loaded model's tensors between the card and the host, whole, and back.

What is found: every tensor reachable from the model object (upstream's ChatterboxMultilingualTTS
or its siblings) on the model's device: the parameters, buffers and tensor attributes of every
module under it (e.g. EspnetRelPositionalEncoding.pe, a plain attribute filled lazily), and the
tensors in plain objects, dicts and lists under it (the voice conditionals `conds`). Each tensor
object is moved once, and each storage once: tensors that share a storage (a submodule registered
twice, as `t3.patched_model` shares `tfmr` after the first request; tied weights; views) share one
host copy and share one device copy again after the move back.

How: one uint8 copy per storage (pinned or pageable host memory), then every tensor is re-pointed
at the copy with `tensor.data = ...`, which keeps each tensor object (a Parameter stays the same
Parameter, every reference to it sees the move). Nothing is re-pointed until every copy has
finished, so a failed copy leaves the model where it was.

Device-keyed caches outside the modules (s3gen's get_resampler lru_cache, the mel module's
mel_basis and hann_window dicts) cannot be moved without breaking their keys: they are emptied,
and upstream refills them on the next use.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType

import torch

from .upstream import DeviceCache

log = logging.getLogger("tts_layer")

# How deep to look into plain objects under the model object (model.conds.t3.speaker_emb is 3).
MAX_DEPTH = 4


def same_device(tensor: torch.Tensor, device: torch.device) -> bool:
    return tensor.device.type == device.type and (device.index is None or tensor.device.index == device.index)


def model_device(model: object) -> torch.device | None:
    """The device the model's parameters are on (the first module's first parameter)."""
    for module in modules_of(model):
        for parameter in module.parameters():
            return parameter.device
    return None


def modules_of(model: object) -> list[torch.nn.Module]:
    """The nn.Modules directly under the model object (t3, s3gen, ve, ...), or the model itself."""
    if isinstance(model, torch.nn.Module):
        return [model]
    return [value for value in vars(model).values() if isinstance(value, torch.nn.Module)] if hasattr(model, "__dict__") else []


def find_tensors(model: object, device: torch.device) -> list[torch.Tensor]:
    """Every distinct tensor object reachable from `model` that lives on `device`."""
    found: dict[int, torch.Tensor] = {}
    seen: set[int] = set()

    def add(value: object) -> None:
        if isinstance(value, torch.Tensor) and same_device(value, device):
            found.setdefault(id(value), value)

    def visit(node: object, depth: int) -> None:
        if id(node) in seen or isinstance(node, (type, ModuleType, FunctionType, BuiltinFunctionType, MethodType, str, bytes)):
            return
        seen.add(id(node))
        if isinstance(node, torch.Tensor):
            add(node)
        elif isinstance(node, torch.nn.Module):
            for module in node.modules():
                if id(module) in seen and module is not node:
                    continue
                seen.add(id(module))
                for value in (*module._parameters.values(), *module._buffers.values()):
                    add(value)
                for name, value in vars(module).items():
                    if not name.startswith("_"):
                        add(value)
        elif depth < MAX_DEPTH:
            if isinstance(node, dict):
                children: Iterable[object] = list(node.values())
            elif isinstance(node, (list, tuple)):
                children = list(node)
            elif hasattr(node, "__dict__"):
                children = list(vars(node).values())
            else:
                return
            for child in children:
                visit(child, depth + 1)

    visit(model, 0)
    return list(found.values())


# Each storage's copy starts on this boundary inside the host arena (a multiple of every itemsize).
ALIGN = 512


@dataclass
class Plan:
    """Tensors grouped by the storage they share; each group moves as one copy."""

    groups: list[list[torch.Tensor]] = field(default_factory=list)
    skipped: int = 0

    @classmethod
    def of(cls, tensors: Iterable[torch.Tensor]) -> Plan:
        plan = cls()
        by_storage: dict[tuple, list[torch.Tensor]] = {}
        for tensor in tensors:
            if tensor.layout is not torch.strided or tensor.is_quantized:
                plan.skipped += 1
                continue
            storage = tensor.untyped_storage()
            # An empty storage has no address of its own: each such tensor is its own group.
            key = (str(tensor.device), storage.data_ptr()) if storage.data_ptr() else ("empty", id(tensor))
            by_storage.setdefault(key, []).append(tensor)
        plan.groups = list(by_storage.values())
        return plan


@dataclass
class Region:
    """One storage's bytes in the arena, and the tensors that view it (with their byte offsets)."""

    offset: int
    nbytes: int
    views: list[tuple[torch.Tensor, int]]


@dataclass
class HostCopy:
    """A parked model: one host arena holding every moved storage, and where it came from."""

    home: torch.device
    arena: torch.Tensor
    regions: list[Region]
    pinned: bool
    skipped: int = 0
    seconds: float = 0.0

    @property
    def tensors(self) -> int:
        return sum(len(region.views) for region in self.regions)

    @property
    def nbytes(self) -> int:
        return sum(region.nbytes for region in self.regions)

    def summary(self) -> dict[str, object]:
        return {
            "tensors": self.tensors,
            "storages": len(self.regions),
            "bytes": self.nbytes,
            "skipped": self.skipped,
            "host_memory": "pinned" if self.pinned else "pageable",
        }


def arena_size(tensors: Iterable[torch.Tensor]) -> int:
    """The host bytes a park of these tensors needs (each storage once, aligned)."""
    return sum(aligned(group[0].untyped_storage().nbytes()) for group in Plan.of(tensors).groups)


def aligned(nbytes: int) -> int:
    return (nbytes + ALIGN - 1) // ALIGN * ALIGN


def cuda_ready() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_initialized()


def synchronize() -> None:
    if cuda_ready():
        torch.cuda.synchronize()


def pin(arena: torch.Tensor) -> bool:
    """Page-lock the arena in place (cudaHostRegister): copies run at PCIe speed and the arena
    stays exactly its size (PyTorch's pinned allocator rounds each block up to a power of two)."""
    if not cuda_ready():
        return False
    try:
        status = torch.cuda.cudart().cudaHostRegister(arena.data_ptr(), arena.numel(), 0)
    except Exception as error:
        log.warning("host memory not pinned (%s): the copy runs from pageable memory", error)
        return False
    if int(status) != 0:
        log.warning("host memory not pinned (cudaHostRegister returned %s): the copy runs from pageable memory", status)
        return False
    return True


def unpin(arena: torch.Tensor) -> None:
    torch.cuda.cudart().cudaHostUnregister(arena.data_ptr())


def repoint(views: list[tuple[torch.Tensor, int]], storage: torch.UntypedStorage, base: int, device: torch.device) -> None:
    """Point each tensor at `storage`, its bytes starting `base` + its own offset in."""
    for tensor, offset in views:
        size = tensor.element_size()
        tensor.data = torch.empty(0, dtype=tensor.dtype, device=device).set_(
            storage, (base + offset) // size, tensor.size(), tensor.stride()
        )


def to_host(tensors: Iterable[torch.Tensor], home: torch.device, pinned: bool = True) -> HostCopy:
    """Copy every storage of `tensors` into one host arena, then re-point every tensor into it.
    Raises (having re-pointed nothing) if a copy fails."""
    started = time.monotonic()
    plan = Plan.of(tensors)
    regions, total = [], 0
    for group in plan.groups:
        nbytes = group[0].untyped_storage().nbytes()
        regions.append(Region(total, nbytes, [(t, t.storage_offset() * t.element_size()) for t in group]))
        total += aligned(nbytes)
    arena = torch.empty(total, dtype=torch.uint8)
    pinned = pinned and pin(arena)
    try:
        for region in regions:
            storage = region.views[0][0].untyped_storage()
            source = torch.empty(0, dtype=torch.uint8, device=storage.device).set_(storage)
            arena[region.offset : region.offset + region.nbytes].copy_(source, non_blocking=pinned)
        synchronize()
    except BaseException:
        if pinned:
            unpin(arena)
        raise
    with torch.no_grad():
        for region in regions:
            repoint(region.views, arena.untyped_storage(), region.offset, torch.device("cpu"))
    return HostCopy(home, arena, regions, pinned, plan.skipped, time.monotonic() - started)


def to_device(host: HostCopy) -> float:
    """Copy every region back to its home device as a storage of its own, then re-point the
    tensors and let the arena go. Raises (having re-pointed nothing) if a copy fails: the model
    stays on the host. Returns the seconds it took."""
    started = time.monotonic()
    copies = []
    for region in host.regions:
        copy = torch.empty(region.nbytes, dtype=torch.uint8, device=host.home)
        copy.copy_(host.arena[region.offset : region.offset + region.nbytes], non_blocking=host.pinned)
        copies.append(copy)
    synchronize()
    with torch.no_grad():
        for region, copy in zip(host.regions, copies, strict=True):
            repoint(region.views, copy.untyped_storage(), 0, host.home)
    if host.pinned:
        unpin(host.arena)
    host.regions, host.arena = [], torch.empty(0, dtype=torch.uint8)
    return time.monotonic() - started


def release(caches: Iterable[DeviceCache]) -> dict[str, int]:
    """Empty the device-keyed caches, collect garbage, and hand the allocator's cached blocks back
    to the driver. Returns the entries each cache held."""
    cleared = {}
    for cache in caches:
        try:
            cleared[cache.name] = cache.clear()
        except Exception as error:  # a cache that changed shape must not fail the park
            log.warning("could not empty %s: %s", cache.name, error)
    gc.collect()
    if cuda_ready():
        torch.cuda.empty_cache()
    return cleared


def card_bytes() -> dict[str, int] | None:
    """What this process holds on its card, and what the card has free: None without CUDA."""
    if not cuda_ready():
        return None
    free, total = torch.cuda.mem_get_info()
    return {
        "allocated_bytes": int(torch.cuda.memory_allocated()),
        "reserved_bytes": int(torch.cuda.memory_reserved()),
        "free_bytes": int(free),
        "total_bytes": int(total),
    }
