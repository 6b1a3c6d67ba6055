"""Parking: the state machine of states.py acted out on the loaded model, in threads of its own.

Threads: the synthesis path (uvicorn's event loop: upstream synthesizes blocking, in async
handlers) enters `synthesis()` around every engine.synthesize call, and upstream's unload and
reload enter `model_change()`. A park or an unpark runs in a worker thread of its own, so the
control call that asked for it can be killed without stopping it; a watchdog timer ends it in
`failed` at its deadline whether or not anyone still waits. One condition variable guards the
state and what holds the model.

A park: admission closes (the client port answers 503 + Retry-After), a global forward pre-hook
is installed that raises ParkAbort (a BaseException: upstream's engine catches every Exception) in
the next module call of a synthesis in flight, the park waits for the synthesis to leave, removes
the hook, moves every tensor of the model to one host arena (tensors.py), empties the device-keyed
caches and the allocator's cache, and measures what is left on the card.
An unpark: copies the arena back to the card, re-points the tensors, frees the arena, admits again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from . import tensors
from .metrics import ServerMetrics, rss_bytes
from .states import Phase, Verdict, admits_speech, decide

log = logging.getLogger("tts_layer")

DEFAULT_DEADLINE_SECONDS = 60.0
# Room kept free under the pod's memory limit while the parked model is on the host.
HOST_HEADROOM_BYTES = 256 * 2**20


class ParkAbort(BaseException):
    """Raised inside a synthesis that a park interrupts. A BaseException so that upstream's
    `except Exception` in engine.synthesize and in its handlers lets it through to the layer's
    ASGI wrapper, which answers 503 + Retry-After."""


class DeadlinePassed(Exception):
    pass


def cgroup_memory_room() -> int | None:
    """Bytes the pod's memory limit still allows this container (cgroup v2, then v1); None when
    unlimited or unknown."""
    for limit_path, usage_path in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit_path) as limit_file, open(usage_path) as usage_file:
                limit, usage = limit_file.read().strip(), usage_file.read().strip()
        except OSError:
            continue
        if limit == "max" or int(limit) >= 2**60:
            return None
        return int(limit) - int(usage)
    return None


@dataclass
class Operation:
    op: str
    deadline_seconds: float
    started: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    expired: bool = False
    result: dict = field(default_factory=dict)
    status: int = 200
    # A park asked while a synthesis held the model: it interrupts it. Read when the park is
    # asked, under the lock, since the abort can unwind the synthesis before the park's own
    # thread first looks.
    interrupts_synthesis: bool = False


class Controller:
    def __init__(
        self,
        model: Callable[[], object | None],
        caches: Callable[[], list[tensors.DeviceCache]] = list,
        metrics: ServerMetrics | None = None,
        *,
        pin: bool = True,
        retry_after_seconds: int = 30,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
        memory_room: Callable[[], int | None] = cgroup_memory_room,
    ) -> None:
        self.model = model
        self.caches = caches
        self.metrics = metrics or ServerMetrics()
        self.pin = pin
        self.retry_after_seconds = retry_after_seconds
        self.deadline_seconds = deadline_seconds
        self.memory_room = memory_room
        self._cond = threading.Condition()
        self.phase = Phase.SERVING
        self.since = time.time()
        self.busy: list[str] = []
        self.operation: Operation | None = None
        self.last: dict | None = None
        self.counts = {"parks": 0, "unparks": 0, "failures": 0}
        self.host: tensors.HostCopy | None = None
        self._abort_handle = None

    # -- the synthesis path ----------------------------------------------------------------------

    def admitting(self) -> bool:
        return admits_speech(self.phase)

    @contextmanager
    def synthesis(self):
        """Around one engine.synthesize call: refuses (ParkAbort) unless serving."""
        with self._holding("synthesis"):
            yield

    @contextmanager
    def model_change(self, kind: str):
        """Around upstream's unload_model / reload_model: refuses (ParkAbort) unless serving, and
        a park asked meanwhile is refused (409) instead of moving a model being replaced."""
        with self._holding(kind):
            yield

    @contextmanager
    def _holding(self, kind: str):
        with self._cond:
            if not admits_speech(self.phase):
                raise ParkAbort(f"the server is {self.phase.value}")
            self.busy.append(kind)
        try:
            yield
        finally:
            with self._cond:
                self.busy.remove(kind)
                self._cond.notify_all()

    def _abort_hook(self, module, args) -> None:
        raise ParkAbort("a park interrupted this synthesis")

    # -- park and unpark -------------------------------------------------------------------------

    def request(self, op: str, deadline_seconds: float | None = None) -> tuple[int, dict]:
        """Ask for a park or an unpark and wait for it, up to its deadline: (HTTP status, body)."""
        deadline = self.deadline_seconds if deadline_seconds is None else deadline_seconds
        with self._cond:
            verdict, reason = decide(self.phase, op, tuple(self.busy))
            if verdict is Verdict.REFUSE:
                return 409, {"state": self.phase.value, "op": op, "error": reason}
            if verdict is Verdict.ALREADY:
                return 200, {**(self.last or {}), "state": self.phase.value, "op": op, "already": True}
            if verdict is Verdict.START:
                operation = Operation(op, deadline, interrupts_synthesis=op == "park" and "synthesis" in self.busy)
                self.operation = operation
                self._enter(Phase.PARKING if op == "park" else Phase.UNPARKING)
                if op == "park":
                    self._abort_handle = torch.nn.modules.module.register_module_forward_pre_hook(self._abort_hook)
                worker = self._park if op == "park" else self._unpark
                threading.Thread(target=self._run, args=(operation, worker), name=f"tts-layer-{op}", daemon=True).start()
                timer = threading.Timer(deadline, self._expire, args=(operation,))
                timer.daemon = True
                timer.start()
            else:
                operation = self.operation
        # JOIN waits for the same operation, up to its own deadline.
        operation.done.wait(max(0.0, operation.started + operation.deadline_seconds - time.monotonic()) + 1.0)
        if not operation.done.is_set():
            self._expire(operation)
        return operation.status, operation.result

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self.since = time.time()
        self.metrics.set_state(phase)

    def _run(self, operation: Operation, worker: Callable[[Operation], dict]) -> None:
        try:
            report = worker(operation)
        except BaseException as error:  # a failed move, a passed deadline, anything: failed
            if isinstance(error, DeadlinePassed):
                self._fail(operation, 504, str(error))
            else:
                self._fail(operation, 500, f"{operation.op} failed: {type(error).__name__}: {error}")
            return
        with self._cond:
            if operation.expired:
                return
            took = time.monotonic() - operation.started
            report["seconds"]["total"] = round(took, 3)
            if operation.op == "park":
                self._enter(Phase.PARKED)
                self.counts["parks"] += 1
                self.metrics.parks.inc()
            else:
                self._enter(Phase.SERVING)
                self.counts["unparks"] += 1
                self.metrics.unparks.inc()
            self.metrics.park_seconds.labels(operation.op).observe(took)
            operation.result = {**report, "state": self.phase.value, "op": operation.op, "already": False}
            self.last = operation.result
            operation.done.set()
        log.info("%s done in %.2fs: %s", operation.op, took, report["seconds"])

    def _expire(self, operation: Operation) -> None:
        if not operation.done.is_set():
            self._fail(operation, 504, f"{operation.op} passed its deadline of {operation.deadline_seconds:g}s")

    def _fail(self, operation: Operation, status: int, error: str) -> None:
        with self._cond:
            if operation.done.is_set():
                return
            operation.expired = True
            self._remove_abort_hook()
            self._enter(Phase.FAILED)
            self.counts["failures"] += 1
            self.metrics.park_failures.labels(operation.op).inc()
            self.metrics.errors.labels(operation.op).inc()
            operation.status = status
            operation.result = {"state": self.phase.value, "op": operation.op, "error": error}
            self.last = operation.result
            operation.done.set()
        log.error("%s", error)

    def _remove_abort_hook(self) -> None:
        if self._abort_handle is not None:
            self._abort_handle.remove()
            self._abort_handle = None

    def _check(self, operation: Operation, during: str) -> None:
        if operation.expired:
            raise DeadlinePassed(f"{operation.op} passed its deadline of {operation.deadline_seconds:g}s {during}")

    def _park(self, operation: Operation) -> dict:
        seconds: dict[str, float] = {}
        started = time.monotonic()
        aborted = operation.interrupts_synthesis
        with self._cond:
            while "synthesis" in self.busy:
                aborted = True
                remaining = operation.started + operation.deadline_seconds - time.monotonic()
                if remaining <= 0 or operation.expired:
                    raise DeadlinePassed(
                        f"park passed its deadline of {operation.deadline_seconds:g}s: the synthesis in flight did not stop"
                    )
                self._cond.wait(remaining)
            self._remove_abort_hook()
        seconds["abort"] = round(time.monotonic() - started, 3)
        self._check(operation, "before the copy")
        step = time.monotonic()
        model = self.model()
        device = tensors.model_device(model) if model is not None else None
        moved: dict[str, object] = {"tensors": 0, "storages": 0, "bytes": 0, "skipped": 0, "host_memory": "none"}
        if device is not None:
            tensors.synchronize()
            found = tensors.find_tensors(model, device)
            needed = tensors.arena_size(found)
            room = self.memory_room()
            if room is not None and needed + HOST_HEADROOM_BYTES > room:
                raise MemoryError(f"the parked model needs {needed} bytes on the host; the pod's memory limit leaves {room}")
            self.host = tensors.to_host(found, device, pinned=self.pin)
            moved = self.host.summary()
            del found
        seconds["copy"] = round(time.monotonic() - step, 3)
        self._check(operation, "during the copy")
        step = time.monotonic()
        cleared = tensors.release(self.caches())
        seconds["release"] = round(time.monotonic() - step, 3)
        return {"seconds": seconds, "aborted_synthesis": aborted, "moved": moved, "caches_emptied": cleared, **self.memory()}

    def _unpark(self, operation: Operation) -> dict:
        seconds: dict[str, float] = {}
        step = time.monotonic()
        host, moved = self.host, {"tensors": 0, "storages": 0, "bytes": 0}
        if host is not None:
            moved = {"tensors": host.tensors, "storages": len(host.regions), "bytes": host.nbytes}
            try:
                tensors.to_device(host)
            except BaseException:
                tensors.release([])  # the partial copies on the card go back to the driver
                raise
            self.host = None
        seconds["copy"] = round(time.monotonic() - step, 3)
        step = time.monotonic()
        tensors.release([])
        seconds["release"] = round(time.monotonic() - step, 3)
        return {"seconds": seconds, "moved": moved, **self.memory()}

    # -- what the gate reads ---------------------------------------------------------------------

    def memory(self) -> dict:
        return {
            "card": tensors.card_bytes(),
            "host": {"rss_bytes": rss_bytes(), "model_bytes": self.host.nbytes if self.host is not None else 0},
        }

    def state(self) -> dict:
        with self._cond:
            body = {
                "state": self.phase.value,
                "since": round(self.since, 3),
                "synthesizing": "synthesis" in self.busy,
                "counts": dict(self.counts),
                "last": self.last,
                "retry_after_seconds": self.retry_after_seconds,
            }
        model = self.model()
        device = tensors.model_device(model) if model is not None else None
        return {**body, "model": {"loaded": model is not None, "device": str(device) if device else None}, **self.memory()}
