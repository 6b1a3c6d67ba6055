"""Bounded HTTP GETs for the sources: one deadline for the whole answer and a cap on its size.

The deadline is enforced from outside the read (`gate.socket_deadline`, shared with the API client): the
socket is shut down when it runs out, so whatever the peer does (stalls before its headers, sends
them a byte at a time, trickles the body) the call returns by `timeout` plus a few milliseconds.
Name resolution runs in a short-lived thread joined with the same deadline (the resolver cannot
be interrupted; a slow DNS leaves that thread to finish on its own resolver timeout).

The client is the standard library's: identity encoding only (no decompression, so no gzip
bomb), no redirects, no proxies (the sources are in-cluster Services).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from gate.policy import DeviceReading, Reading
from gate.socket_deadline import Deadline
from gate.sources import ANY_CARD, Card, SourceConfig, SourceError, as_reading, exporter
from gate.sources.exposition import Budget

_CHUNK = 64 * 1024
USER_AGENT = "tts-gate"


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


class ScrapedSource:
    """A source that GETs exposition text from an exporter's /metrics and parses it, all within
    one deadline: finding the exporter's pod on the card's node (`SourceConfig.locate`), the
    fetch and the parse."""

    name: str
    parse: Callable[..., Reading]
    parse_device: Callable[..., DeviceReading]  # device-level exporters only

    def __init__(self, config: SourceConfig):
        self.config = config

    def read(self) -> Reading:
        body, where, budget, node = self._get()
        return self.parse(body, where, card=self.config.card, answered_on=node, budget=budget)

    def read_device(self) -> DeviceReading:
        body, where, budget, node = self._get()
        return self.parse_device(body, where, card=self.config.card, answered_on=node, budget=budget)

    def _get(self) -> tuple[bytes, str, Budget, str | None]:
        """The answer, where it came from (the pod and its node, when located), the deadline."""
        config = self.config
        budget = Budget.starting_now(config.timeout_seconds)
        where = host_of(config.url)
        if config.locate is None:
            if config.card.node is not None and not exporter(self.name).labels_node:
                # Nothing would say which node answered: a Service picks any of its pods.
                raise SourceError(
                    f"metrics from {where}: {self.name} names no node in its answers, so with card.node set its "
                    "metrics URL must name its Service (http://<service>.<namespace>.svc:<port>/metrics), read on that node"
                )
            return fetch(config.url, config.timeout_seconds, config.max_bytes, budget=budget), where, budget, None
        target = config.locate()
        where = f"{where} ({target.pod or target.host} on {target.node})"
        try:
            body = fetch(config.url, config.timeout_seconds, config.max_bytes, budget=budget, connect_to=(target.host, target.port))
        except SourceError as exc:
            config.locate.forget()  # the pod may have been replaced: find it again next time
            raise SourceError(str(exc).replace(f"metrics from {host_of(config.url)}:", f"metrics from {where}:", 1)) from exc
        return body, where, budget, target.node


class DeviceScrapedSource(ScrapedSource):
    """A device-level exporter's source: `parse_device` reads the card's figures; read alone
    (`parse`, `read`), all that is held on the card is unattributed (`as_reading`)."""

    @classmethod
    def parse(cls, body: bytes, where: str, card: Card = ANY_CARD, answered_on: str | None = None, budget: Budget | None = None) -> Reading:
        return as_reading(cls.parse_device(body, where, card, answered_on, budget))


def fetch(
    url: str,
    timeout_seconds: float,
    max_bytes: int,
    params: dict[str, str] | None = None,
    budget: Budget | None = None,
    connect_to: tuple[str, int] | None = None,
) -> bytes:
    """GET `url`; return the body, or raise SourceError naming the host. Never raises anything
    else, never takes longer than `timeout_seconds` (plus the time to notice it ran out), or than
    what is left of `budget` (a read's deadline, shared by its steps). `connect_to`: the address
    to connect to instead of the URL's host (its Host header and TLS name stay the URL's)."""
    if params:
        url += ("&" if urlsplit(url).query else "?") + urlencode(params)
    status, reason, body = exchange("GET", url, timeout_seconds, max_bytes, ok=(200,), budget=budget, connect_to=connect_to)
    return body


def exchange(
    method: str,
    url: str,
    timeout_seconds: float,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    what: str = "metrics",
    ok: tuple[int, ...] | None = None,
    budget: Budget | None = None,
    connect_to: tuple[str, int] | None = None,
) -> tuple[int, str, bytes]:
    """One HTTP request within one deadline: (status, reason, body), or SourceError naming
    `what` and the host (a status outside `ok`, when given, is one too, before its body is read).
    Never raises anything else; never takes longer than `timeout_seconds` (plus the time to
    notice it ran out), or than what is left of `budget`. `connect_to`: as `fetch`'s."""
    label = f"{what} from {host_of(url)}"
    deadline = budget.at if budget is not None else time.monotonic() + timeout_seconds
    request = _request(method, url, headers, body, label)
    if time.monotonic() >= deadline:
        raise SourceError(f"{label}: no complete answer within {timeout_seconds:g}s")
    connect_host, connect_port = connect_to or (request.hostname, request.port)
    sock = _connect(connect_host, connect_port, deadline, label, timeout_seconds)
    return _answer(sock, request, Deadline(deadline - time.monotonic()), label, timeout_seconds, max_bytes, ok)


@dataclass(frozen=True)
class _Request:
    """What one exchange sends, and to which host and port (the URL's: its Host header and TLS name)."""

    method: str
    scheme: str
    hostname: str
    port: int
    target: str  # the path and the query
    headers: dict[str, str]
    body: bytes | None


def _request(method: str, url: str, headers: dict[str, str] | None, body: bytes | None, label: str) -> _Request:
    """The request `url` names; SourceError (`label`: what, from which host) for one it cannot name."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(f"{label}: {url!r} is not an http:// or https:// URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise SourceError(f"{label}: {url!r} has no valid port") from exc
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    return _Request(method, parts.scheme, parts.hostname, port, target, headers or {}, body)


def _answer(
    sock: socket.socket, request: _Request, cutoff: Deadline, label: str, timeout_seconds: float, max_bytes: int, ok: tuple[int, ...] | None
) -> tuple[int, str, bytes]:
    """Send `request` on the connected socket and read its answer, all before `cutoff`, which
    shuts the socket down when it runs out: (status, reason, body), or SourceError (`label`:
    what, from which host). The socket is closed whatever happens."""
    phase = "connection"
    answer: http.client.HTTPResponse | None = None
    try:
        with cutoff:
            cutoff.watch(sock)
            if request.scheme == "https":
                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=request.hostname)
                cutoff.watch(sock)
            connection = _send(sock, request, cutoff)
            phase = "answer"
            answer = connection.getresponse()
            if ok is not None and answer.status not in ok:
                raise SourceError(f"{label}: HTTP {answer.status} {answer.reason or ''}".rstrip())
            phase = "complete answer"
            received = _body(answer, max_bytes, label)
    except SourceError:
        raise
    except Exception as exc:  # whatever the transport raises: a reset, a broken chunk, TLS, a cut socket
        if cutoff.expired():
            raise SourceError(f"{label}: no {phase} within {timeout_seconds:g}s") from exc
        raise SourceError(f"{label}: {_root_cause(exc)}") from exc
    finally:
        if answer is not None:
            answer.close()
        sock.close()
    if cutoff.fired:  # the body ended because the socket was shut down: it may be cut short
        raise SourceError(f"{label}: no complete answer within {timeout_seconds:g}s")
    return answer.status, answer.reason or "", received


def _body(answer: http.client.HTTPResponse, max_bytes: int, label: str) -> bytes:
    """The answer's body, refused past `max_bytes`."""
    received = bytearray()
    while chunk := answer.read(_CHUNK):
        received.extend(chunk)
        if len(received) > max_bytes:
            raise SourceError(f"{label}: answer larger than {max_bytes} bytes, refused")
    return bytes(received)


def _send(sock: socket.socket, request: _Request, cutoff: Deadline) -> http.client.HTTPConnection:
    """The request, sent on the connected socket by the standard library's client: identity
    encoding only, the connection closed after the answer."""
    connection = http.client.HTTPConnection(request.hostname, request.port, timeout=cutoff.remaining())
    connection.sock = sock
    connection.putrequest(request.method, request.target, skip_accept_encoding=True)
    sent = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity", "Connection": "close", **request.headers}
    if request.body is not None:
        sent["Content-Length"] = str(len(request.body))
    for name, value in sent.items():
        connection.putheader(name, value)
    connection.endheaders(request.body)
    return connection


def _connect(hostname: str, port: int, deadline: float, label: str, timeout_seconds: float) -> socket.socket:
    """A connected socket within the deadline, or SourceError (`label`: what, from which host)."""
    resolved: list[object] = []

    def resolve() -> None:
        try:
            resolved.append(socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM))
        except Exception as exc:  # gaierror, UnicodeError for an impossible name, ...
            resolved.append(exc)

    resolver = threading.Thread(target=resolve, name="gate-resolve", daemon=True)
    resolver.start()
    resolver.join(max(0.0, deadline - time.monotonic()))
    if not resolved:
        raise SourceError(f"{label}: no connection within {timeout_seconds:g}s (name lookup)")
    if isinstance(resolved[0], BaseException):
        raise SourceError(f"{label}: cannot connect ({_root_cause(resolved[0])})") from resolved[0]
    error: BaseException | None = None
    for family, kind, proto, _, address in resolved[0]:  # type: ignore[union-attr]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    if error is None or isinstance(error, TimeoutError) or time.monotonic() >= deadline:
        raise SourceError(f"{label}: no connection within {timeout_seconds:g}s") from error
    raise SourceError(f"{label}: cannot connect ({_root_cause(error)})") from error


def _root_cause(exc: BaseException) -> str:
    """One line for what went wrong under the HTTP client: 'connection refused', 'DNS lookup failed'."""
    seen: BaseException | None = exc
    innermost = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return "DNS lookup failed"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, ConnectionResetError):
            return "connection reset by the peer"
        if isinstance(seen, http.client.IncompleteRead):
            return f"answer cut short ({seen.partial and len(seen.partial) or 0} bytes read)"
        if isinstance(seen, http.client.RemoteDisconnected):
            return "closed the connection without an answer"
        innermost = seen
        seen = seen.__cause__ or seen.__context__
    return " ".join(str(innermost).split())[:200] or type(innermost).__name__
