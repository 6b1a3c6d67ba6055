"""The gate's HTTP port: Prometheus metrics on /metrics and, for a kubelet liveness probe,
/healthz, which fails once the loop has not completed an iteration for too long. A metrics
thread that still answers says nothing about a loop that is stuck; /healthz does.

The port stays bounded whatever its clients do, so none can grow the gate's memory or starve the
probe: a connection lives at most `connection_seconds` (a client that sends nothing, or trickles
its request, is cut off then by a reaper that shuts its socket down; each read and write also
times out), and at most `max_connections` are served at once. A new connection beyond the cap
takes the place of the oldest one still waiting for its request, so idle clients cannot lock out
the kubelet's probe; when every connection is busy answering, or the threads of those cut off
have not finished yet, the new one is closed at once.
Threads: at most 2 × `max_connections` handlers (those served and those cut off but not yet
finished), the reaper and the accept loop.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gate.units import InvalidValue

# A probe or a scrape sends its request at once and reads a small answer.
CONNECTION_SECONDS = 5.0
MAX_CONNECTIONS = 16
_REAP_SECONDS = 0.25


@dataclass
class _Connection:
    sock: socket.socket
    deadline: float
    waiting: bool = True  # no complete request yet
    cut: bool = False  # shut down by the server; its thread is finishing


class _BoundedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int, connection_seconds: float):
        self.max_connections = max_connections
        self.connection_seconds = connection_seconds
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, _Connection] = {}
        self._closed = threading.Event()
        super().__init__(address, handler)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        reaper = threading.Thread(target=self._reap, name="gate-serve-reaper", daemon=True)
        reaper.start()
        try:
            super().serve_forever(poll_interval)
        finally:
            self._closed.set()
            reaper.join()

    # -- admission ----------------------------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            admit = self._make_room()
            if admit:
                self._connections[request] = _Connection(request, time.monotonic() + self.connection_seconds)
        if not admit:
            self.shutdown_request(request)  # closed at once: no thread for it
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._forget(request)
            raise

    def _make_room(self) -> bool:
        """Whether a new connection is admitted; at the cap, the oldest waiting one is cut for it.
        While the threads of those cut earlier still run (2 × the cap), none is cut: the new one is
        refused, rather than losing an old one and the new one too."""
        if len(self._connections) >= 2 * self.max_connections:
            return False
        served = [c for c in self._connections.values() if not c.cut]
        if len(served) < self.max_connections:
            return True
        waiting = [c for c in served if c.waiting]
        if not waiting:
            return False
        self._cut(min(waiting, key=lambda c: c.deadline))
        return True

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def request_started(self, request: Any) -> None:
        """The handler has read a whole request: answering it, the connection is busy, not idle."""
        with self._lock:
            connection = self._connections.get(request)
            if connection is not None:
                connection.waiting = False

    def _forget(self, request: Any) -> None:
        with self._lock:
            self._connections.pop(request, None)

    def _cut(self, connection: _Connection) -> None:
        connection.cut = True
        with contextlib.suppress(OSError):
            connection.sock.shutdown(socket.SHUT_RDWR)  # its thread's read or write ends at once

    # -- the reaper ---------------------------------------------------------------------------

    def _reap(self) -> None:
        """Cut off every connection past its deadline, however its thread is blocked."""
        while not self._closed.wait(_REAP_SECONDS):
            now = time.monotonic()
            with self._lock:
                for connection in self._connections.values():
                    if not connection.cut and now >= connection.deadline:
                        self._cut(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away, or one cut off: nothing for the gate's log

    def connection_count(self) -> int:
        with self._lock:
            return len(self._connections)


class GateServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        address: str,
        port: int,
        health: Callable[[], str | None],
        *,
        max_connections: int = MAX_CONNECTIONS,
        connection_seconds: float = CONNECTION_SECONDS,
    ):
        """`health` returns None while the loop is healthy, else why it is not (one line)."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            timeout = connection_seconds  # each read and write; the reaper bounds the whole

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner._server.request_started(self.request)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(owner.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    problem = owner.health()
                    self._send(503 if problem else 200, (problem or "ok").encode() + b"\n", "text/plain; charset=utf-8")
                else:
                    self._send(404, b"not found: /metrics or /healthz\n", "text/plain; charset=utf-8")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.registry = registry
        self.health = health
        try:
            self._server = _BoundedServer((address, port), Handler, max_connections, connection_seconds)
        except OSError as exc:
            raise InvalidValue(f"cannot serve metrics on {address}:{port}: {exc.strerror}") from exc
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def connection_count(self) -> int:
        """Connections open now (served, or cut off and finishing)."""
        return self._server.connection_count()

    def __enter__(self) -> GateServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
