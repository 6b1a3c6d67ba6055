"""What the loopback doubles share: a server on 127.0.0.1 (a port of its own, HTTPS on request),
served from a daemon thread for the length of a `with`, and a request handler that answers as a
server would or, on demand, misbehaves (no answer, a trickle, a reset)."""

from __future__ import annotations

import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


def unused_port() -> int:
    """A loopback port nobody listens on (bound, then closed): free to bind, refused to connect."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server on loopback. A client that hangs up early (a timeout the test
    provoked) is not an error of the double, so it is not printed as one."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class LoopbackHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive), no access log, and the ways a double writes its answers. TCP_NODELAY,
    as Go's net package (kube-apiserver, the exporters) and most servers set it: without it the
    body written after the headers waits ~40 ms for the client's delayed ACK, on every call."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status: int, content_type: str, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        """As a server answers: the status line, Content-Type, Content-Length, any `headers`, the body."""
        self.send_head(status, content_type, len(body), headers)
        self.wfile.write(body)

    def send_head(self, status: int, content_type: str, length: int, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()

    # -- misbehaving: raw bytes on the connection ---------------------------------------------------

    @staticmethod
    def raw_head(status: int, headers: Iterable[tuple[str, str]], phrase: str | None = None) -> bytes:
        """A status line and headers written by hand (`phrase`: the status's own by default)."""
        if phrase is None:
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Unknown"
        lines = [f"HTTP/1.1 {status} {phrase}", *(f"{key}: {value}" for key, value in headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def trickle(self, data: bytes, seconds: float, piece: int = 1) -> None:
        """`data` in pieces of `piece` bytes, a pause of `seconds` after each."""
        for start in range(0, len(data), piece):
            self.connection.sendall(data[start : start + piece])
            time.sleep(seconds)

    def drop(self) -> None:
        """Close the connection without an answer."""
        self.close_connection = True
        self.connection.close()

    def reset(self) -> None:
        """Close the connection with a TCP reset: SO_LINGER with a zero timeout sends RST, not FIN."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()


class LoopbackServer:
    """The base of the doubles. `listen(Handler)` binds 127.0.0.1 on a free port (with
    `tls=(certfile, keyfile)`, HTTPS); `with double:` serves it from a daemon thread and stops
    and closes it on the way out."""

    url_path = ""  # what `url` adds to `base_url`

    def listen(self, handler: type[BaseHTTPRequestHandler], tls: tuple[str, str] | None = None) -> None:
        self._server = QuietServer(("127.0.0.1", 0), handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + self.url_path

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
