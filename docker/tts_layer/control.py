"""The control port: park, unpark and state over HTTP, for the gate only (the API is in the
package's docstring, tts_layer/__init__.py). A threaded server of its own (a park waits for its
deadline while the state stays readable), at most MAX_HANDLERS requests at once (more answer 503
at once), each connection cut after its socket timeout. Every request needs the shared token,
read from its file on each request so that a rotated Secret takes effect without a restart.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .parking import Controller

log = logging.getLogger("tts_layer")

MAX_HANDLERS = 8
MAX_BODY_BYTES = 4096
MAX_DEADLINE_SECONDS = 600
SOCKET_TIMEOUT_SECONDS = 10.0


def read_token(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def parse_deadline(body: bytes) -> float | None:
    """The optional {"deadline_seconds": N} of a park or unpark; ValueError names what is wrong."""
    if not body.strip():
        return None
    try:
        document = json.loads(body)
    except ValueError:
        raise ValueError(f'body {body[:80]!r}: expected a JSON object such as {{"deadline_seconds": 30}}') from None
    if not isinstance(document, dict) or set(document) - {"deadline_seconds"}:
        raise ValueError(f"body {body[:80]!r}: expected a JSON object with only deadline_seconds")
    if "deadline_seconds" not in document:
        return None
    value = document["deadline_seconds"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= MAX_DEADLINE_SECONDS:
        raise ValueError(f"deadline_seconds {value!r}: expected a number of seconds above 0 and at most {MAX_DEADLINE_SECONDS}")
    return float(value)


class ControlHandler(BaseHTTPRequestHandler):
    controller: Controller
    token_file: Path
    slots: threading.BoundedSemaphore

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        log.info("control: %s %s", self.address_string(), format % args)

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def authorized(self) -> bool:
        expected = read_token(self.token_file)
        given = self.headers.get("Authorization", "")
        return bool(expected) and hmac.compare_digest(given.encode(), f"Bearer {expected}".encode())

    def handle_one(self, method: str) -> None:
        if not self.slots.acquire(blocking=False):
            self.reply(503, {"error": f"more than {MAX_HANDLERS} control requests at once"})
            return
        try:
            self.route(method)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):  # noqa: UP041 (3.10: socket.timeout is not TimeoutError)
            pass  # the caller went away: a park or unpark it asked for goes on (its state says how)
        finally:
            self.slots.release()

    def route(self, method: str) -> None:
        path = self.path.split("?")[0]
        if not self.authorized():
            self.reply(401, {"error": "missing or wrong token: send Authorization: Bearer <the control token>"})
            return
        routes = {"/state": "GET", "/park": "POST", "/unpark": "POST"}
        if path not in routes:
            self.reply(404, {"error": f"{path}: not a control endpoint (GET /state, POST /park, POST /unpark)"})
            return
        if method != routes[path]:
            self.send_response(405)
            self.send_header("Allow", routes[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/state":
            self.reply(200, self.controller.state())
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.reply(400, {"error": f"body of {length} bytes: expected at most {MAX_BODY_BYTES}"})
            return
        try:
            deadline = parse_deadline(self.rfile.read(length) if length else b"")
        except ValueError as error:
            self.reply(400, {"error": str(error)})
            return
        status, body = self.controller.request(path.lstrip("/"), deadline)
        self.reply(status, body)

    def do_GET(self) -> None:  # noqa: N802
        self.handle_one("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.handle_one("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self.handle_one("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self.handle_one("DELETE")


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):
        connection, address = super().get_request()
        connection.settimeout(SOCKET_TIMEOUT_SECONDS)
        return connection, address


def serve(controller: Controller, token_file: Path, host: str, port: int) -> ControlServer:
    """Serve the control API on host:port from a daemon thread (port 0 picks one)."""
    slots = threading.BoundedSemaphore(MAX_HANDLERS)
    handler = type("Handler", (ControlHandler,), {"controller": controller, "token_file": token_file, "slots": slots})
    server_class = type("Server", (ControlServer,), {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET})
    server = server_class((host, port), handler)
    threading.Thread(target=server.serve_forever, name="tts-layer-control", daemon=True).start()
    return server
