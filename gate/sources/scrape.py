"""Bounded HTTP GETs for the sources: a deadline for the whole answer and a cap on its size."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from gate.policy import DeviceReading, Reading
from gate.sources import SourceConfig, SourceError

_CHUNK = 64 * 1024


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


class ScrapedSource:
    """A source that GETs exposition text from an exporter's /metrics and parses it."""

    name: str
    provides_total: bool
    parse: Callable[[bytes, str], Reading]

    def __init__(self, config: SourceConfig):
        self.config = config

    parse_device: Callable[[bytes, str], DeviceReading]  # device-level exporters only

    def read(self) -> Reading:
        body = fetch(self.config.url, self.config.timeout_seconds, self.config.max_bytes)
        return self.parse(body, host_of(self.config.url))

    def read_device(self) -> DeviceReading:
        body = fetch(self.config.url, self.config.timeout_seconds, self.config.max_bytes)
        return self.parse_device(body, host_of(self.config.url))


def fetch(url: str, timeout_seconds: float, max_bytes: int, params: dict[str, str] | None = None) -> bytes:
    """GET `url`; return the body, or raise SourceError naming the host.

    The timeout bounds connecting and the whole body (a server that trickles bytes is cut off),
    and the body is capped at `max_bytes` so an exporter gone wrong cannot exhaust memory.
    """
    host = host_of(url)
    deadline = time.monotonic() + timeout_seconds
    try:
        with requests.get(url, params=params, timeout=timeout_seconds, stream=True, allow_redirects=False) as answer:
            if answer.status_code != 200:
                raise SourceError(f"metrics from {host}: HTTP {answer.status_code} {answer.reason or ''}".rstrip())
            body = bytearray()
            for chunk in answer.iter_content(_CHUNK):
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise SourceError(f"metrics from {host}: answer larger than {max_bytes} bytes, refused")
                if time.monotonic() > deadline:
                    raise SourceError(f"metrics from {host}: no complete answer within {timeout_seconds:g}s")
    except requests.exceptions.ConnectTimeout as exc:
        raise SourceError(f"metrics from {host}: no connection within {timeout_seconds:g}s") from exc
    except requests.exceptions.ReadTimeout as exc:
        raise SourceError(f"metrics from {host}: no answer within {timeout_seconds:g}s") from exc
    except requests.exceptions.ConnectionError as exc:
        raise SourceError(f"metrics from {host}: cannot connect ({_root_cause(exc)})") from exc
    except requests.exceptions.RequestException as exc:
        raise SourceError(f"metrics from {host}: {_root_cause(exc)}") from exc
    if time.monotonic() > deadline:
        raise SourceError(f"metrics from {host}: no complete answer within {timeout_seconds:g}s")
    return bytes(body)


def _root_cause(exc: BaseException) -> str:
    """One line for what went wrong under the HTTP library: 'connection refused', 'DNS lookup failed'."""
    seen: BaseException | None = exc
    innermost = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return "DNS lookup failed"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        innermost = seen
        seen = seen.__cause__ or seen.__context__
    return " ".join(str(innermost).split())[:200] or type(innermost).__name__
