"""One overall deadline for a network read, enforced from outside the read by shutting its sockets
down (not the one-shot commands' `--deadline`, which bounds a whole run: `controller.decide_within`).

http.client's `readline` and `read(n)` loop over `recv` until they have a whole line or n bytes,
and a socket timeout bounds each `recv`, not the call: a peer that sends a byte every half second
keeps such a read going for ever. So a call registers the sockets it reads from with a
`Deadline`, and one shared watcher thread shuts them down when its time comes: a read blocked in
any phase (connecting, TLS, the status line, the headers, the body) returns at once. The metrics
sources (`gate.sources.scrape`) and the API client (`gate.kube.client`) both use it.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from typing import Any


class Deadline:
    """One call's deadline: `with Deadline(seconds) as d:`, then `d.watch(sock)` for each socket
    (or connection holding one in `.sock`) the call reads from. Past the block nothing is shut."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._watched: list[Any] = []
        self._fired = False
        self.open = False

    def remaining(self) -> float:
        return max(0.001, self.at - time.monotonic())

    @property
    def fired(self) -> bool:
        """The watcher shut the sockets down: a read that ended may have been cut short."""
        return self._fired

    def expired(self) -> bool:
        return self._fired or time.monotonic() >= self.at

    def watch(self, connection_or_socket: Any) -> None:
        """Shut this down at the deadline: a connection (its socket then) or a socket."""
        with self._lock:
            if not any(seen is connection_or_socket for seen in self._watched):
                self._watched.append(connection_or_socket)
            fired = self._fired
        if fired:
            shut(connection_or_socket)

    def fire(self) -> None:
        with self._lock:
            if not self.open:
                return
            self._fired = True
            watched = list(self._watched)
        for item in watched:
            shut(item)

    def __enter__(self) -> Deadline:
        self.open = True
        _watcher.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.open = False
            self._watched.clear()  # the watcher keeps this until its time: it need not keep the sockets


class _Watcher:
    """One daemon thread that fires every call's deadline (no thread per call to start or fail)."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._wake:
            heapq.heappush(self._due, (deadline.at, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():  # also after a fork
                self._thread = threading.Thread(target=self._run, name="gate-deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(self._due[0][0] - time.monotonic() if self._due else None)
                deadline = heapq.heappop(self._due)[2]
            deadline.fire()  # does nothing for a call that has ended


_watcher = _Watcher()


def shut(watched: Any) -> None:
    sock = watched if isinstance(watched, socket.socket) else getattr(watched, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            # socket.socket's own shutdown, also for an SSLSocket: the fd's reads end, whatever
            # layer waits on them, where close() would not wake a reader in another thread.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
