"""The gate's HTTP port: Prometheus metrics on /metrics and, for a kubelet liveness probe,
/healthz, which fails once the loop has not completed an iteration for too long. A metrics
thread that still answers says nothing about a loop that is stuck; /healthz does."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gate.units import InvalidValue


class GateServer:
    def __init__(self, registry: CollectorRegistry, address: str, port: int, health: Callable[[], str | None]):
        """`health` returns None while the loop is healthy, else why it is not (one line)."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
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
            self._server = ThreadingHTTPServer((address, port), Handler)
        except OSError as exc:
            raise InvalidValue(f"cannot serve metrics on {address}:{port}: {exc.strerror}") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> GateServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
