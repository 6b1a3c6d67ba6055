"""A double of the owner's gpu-pod-exporter, on loopback, with the test's own clock.

It reproduces what the real exporter (a Python DaemonSet with hostPID, read in the owner's
infrastructure repository; production-lessons.md) does, because each of these has hurt:

- Every collection (the real one runs every 15 s) asks "nvidia-smi" for the compute processes
  (here: `processes`), maps each pid to a container id (its cgroup) and each container id to a
  pod through a cache of the node's pods list. The cache is refreshed only when it is older than
  60 s, at a collection: a container that started after the last refresh reads as
  `namespace="unknown",pod="unknown",container="unknown"` for up to ~75 s. Host processes
  (no container) are always unknown.
- One series per process, `gpu_pod_memory_used_bytes{namespace,pod,container,process_name,pid}`,
  the value MiB x 1048576, no timestamps; several unknown processes stay distinct by pid.
- Any failure of nvidia-smi (a non-zero exit, a timeout, one `[N/A]` memory field) drops every
  process: the answer is the family's HELP/TYPE lines with HTTP 200, byte for byte what an
  idle card gets.
- `/health` always answers `ok`.
- A dead collector thread: `/metrics` keeps serving the last snapshot, forever.

Time only moves when the test calls `advance`, which collects at every 15 s boundary it
crosses, so a test can say exactly when the cache refreshes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from loopback import LoopbackHandler, LoopbackServer

COLLECT_SECONDS = 15
CACHE_SECONDS = 60
MIB = 1048576
UNKNOWN = ("unknown", "unknown", "unknown")
HEADER = "# HELP gpu_pod_memory_used_bytes GPU memory used by pod\n# TYPE gpu_pod_memory_used_bytes gauge\n"


@dataclass
class Process:
    pid: int
    name: str
    used_mib: int
    container_id: str | None  # None: a host process (no cgroup of a container)


@dataclass
class OwnerExporter(LoopbackServer):
    url_path = "/metrics"
    clock: float = 0.0  # seconds, the test's
    processes: dict[int, Process] = field(default_factory=dict)
    # The kubelet's pods list: container id -> (namespace, pod, container).
    pods_list: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    nvidia_smi_fails: bool = False
    collector_dead: bool = False
    _cache: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    _cache_time: float | None = None
    _snapshot: str = HEADER
    _next_collection: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the cluster, as the test changes it ------------------------------------------------------

    def start_container(self, container_id: str, namespace: str, pod: str, container: str) -> None:
        """The pod's container is running: the kubelet lists it (the exporter's cache may not)."""
        self.pods_list[container_id] = (namespace, pod, container)

    def run(self, pid: int, used_mib: int, container_id: str | None, name: str = "python3") -> None:
        self.processes[pid] = Process(pid, name, used_mib, container_id)

    def stop(self, pid: int) -> None:
        self.processes.pop(pid, None)

    # -- the exporter -----------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Let time pass, collecting at every 15 s boundary on the way (and at the start)."""
        until = self.clock + seconds
        while self._next_collection <= until:
            self.clock = self._next_collection
            self.collect()
            self._next_collection += COLLECT_SECONDS
        self.clock = until

    def collect(self) -> None:
        if self.collector_dead:
            return  # the thread is gone; the last snapshot stays
        lines = [HEADER]
        if not self.nvidia_smi_fails:
            if self._cache_time is None or self.clock - self._cache_time > CACHE_SECONDS:
                self._cache = dict(self.pods_list)
                self._cache_time = self.clock
            for process in sorted(self.processes.values(), key=lambda p: p.pid):
                namespace, pod, container = self._cache.get(process.container_id or "", UNKNOWN)
                lines.append(
                    f'gpu_pod_memory_used_bytes{{namespace="{namespace}",pod="{pod}",container="{container}",'
                    f'process_name="{process.name}",pid="{process.pid}"}} {process.used_mib * MIB}\n'
                )
        with self._lock:
            self._snapshot = "".join(lines)

    def metrics(self) -> str:
        with self._lock:
            return self._snapshot

    # -- serving ----------------------------------------------------------------------------------

    def __post_init__(self) -> None:
        exporter = self

        class Handler(LoopbackHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body, kind = exporter.metrics().encode(), "text/plain; charset=utf-8"
                elif self.path == "/health":
                    body, kind = b"ok", "text/plain"
                else:
                    body, kind = b"not found", "text/plain"
                self.answer(200 if self.path in ("/metrics", "/health") else 404, kind, body)

        self.listen(Handler)
