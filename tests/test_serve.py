"""The metrics and health port stays bounded: idle, trickling or flooding clients cannot grow its
threads without bound or lock the kubelet's probe out."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
import requests
from prometheus_client import CollectorRegistry, Gauge

from gate.serve import GateServer, _Connection

CAP = 4


def serving(connection_seconds: float) -> GateServer:
    registry = CollectorRegistry()
    Gauge("tts_gate_test_value", "a value to find on /metrics", registry=registry).set(7)
    return GateServer(registry, "127.0.0.1", 0, lambda: None, max_connections=CAP, connection_seconds=connection_seconds)


@pytest.fixture
def server():
    with serving(connection_seconds=1.0) as served:
        yield served


@pytest.fixture
def patient_server():
    """Connections outlive the test: only the cap can make room."""
    with serving(connection_seconds=60.0) as served:
        yield served


def idle_connection(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(10)
    return sock


def closed_by_server(sock: socket.socket, wait: float = 10.0) -> bool:
    """Whether the server has closed this connection (a read ends instead of waiting)."""
    sock.settimeout(wait)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def wait_until(condition, seconds: float = 10.0) -> bool:
    """A guard against a hang, not a measurement: poll until true or give up."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.timeout(60)
def test_idle_connections_above_the_cap_neither_starve_healthz_nor_grow_threads(patient_server):
    server = patient_server
    before = threading.active_count()
    idle = [idle_connection(server.port) for _ in range(5 * CAP)]
    try:
        # Each connection beyond the cap took the place of an idle one (the oldest, unless the
        # threads of those cut before it had not ended yet: then it was refused): the server holds
        # at most the cap of them, and its cut threads end.
        def settled() -> bool:
            return server.connection_count() <= CAP and sum(not closed_by_server(sock, wait=0.01) for sock in idle) <= CAP

        assert wait_until(settled)
        assert threading.active_count() <= before + 2 * CAP
        health = requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10)
        assert (health.status_code, health.text) == (200, "ok\n")
        metrics = requests.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10)
        assert "tts_gate_test_value 7.0" in metrics.text
    finally:
        for sock in idle:
            sock.close()


def test_while_the_cut_ones_threads_run_a_new_connection_is_refused_and_no_other_is_cut():
    """At twice the cap (the cap served, the cap cut off and finishing), a new connection is
    closed at once; cutting a waiting one for it as well would lose two connections for none."""
    pairs = [socket.socketpair() for _ in range(CAP)]
    with serving(connection_seconds=60.0) as served, contextlib.ExitStack() as closing:
        for pair in pairs:
            closing.enter_context(pair[0])
            closing.enter_context(pair[1])
        bounded = served._server
        with bounded._lock:
            bounded._connections = {object(): _Connection(None, 0.0, cut=True) for _ in range(CAP)}
            waiting = [_Connection(ours, float(i)) for i, (ours, _) in enumerate(pairs)]
            bounded._connections.update({object(): c for c in waiting})
            assert not bounded._make_room()
            assert not any(c.cut for c in waiting)
            bounded._connections.pop(next(iter(bounded._connections)))  # one cut thread has ended
            assert bounded._make_room()
            assert [c.cut for c in waiting] == [True] + [False] * (CAP - 1)  # the oldest waiting one
            bounded._connections = {}


@pytest.mark.timeout(30)
def test_an_idle_connection_is_closed_after_the_timeout(server):
    with idle_connection(server.port) as sock:
        assert closed_by_server(sock)  # within the 10 s guard: the server gave up on it after ~1 s
    assert wait_until(lambda: server.connection_count() == 0)


@pytest.mark.timeout(30)
def test_a_trickled_request_is_cut_off(server):
    """A byte of the request line every 0.1 s keeps each read within its timeout; the
    connection's own deadline still ends it."""
    with idle_connection(server.port) as sock:
        request = b"GET /metrics HTTP/1.1\r\n" + b"X-Slow: " + b"a" * 150  # 17 s at this pace, cut off after 1
        cut = False
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            time.sleep(0.1)
            if wait_until(lambda: server.connection_count() == 0, seconds=0):
                cut = True
                break
        assert cut
        assert closed_by_server(sock)


@pytest.mark.timeout(30)
def test_busy_connections_at_the_cap_refuse_a_new_one_at_once(monkeypatch):
    """When every connection is answering (here: /healthz blocks), a new one is closed at once
    instead of being given a thread."""
    release = threading.Event()
    entered = threading.Semaphore(0)

    def blocked_health() -> str | None:
        entered.release()
        release.wait(20)
        return None

    with GateServer(CollectorRegistry(), "127.0.0.1", 0, blocked_health, max_connections=2, connection_seconds=20) as served:
        busy = [idle_connection(served.port) for _ in range(2)]
        try:
            for sock in busy:
                sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert entered.acquire(timeout=10) and entered.acquire(timeout=10)  # both are being answered
            before = threading.active_count()
            with idle_connection(served.port) as extra:
                assert closed_by_server(extra)
            assert threading.active_count() <= before
            release.set()
            assert [sock.recv(1024).split(b"\r\n")[0] for sock in busy] == [b"HTTP/1.0 200 OK"] * 2
        finally:
            release.set()
            for sock in busy:
                sock.close()
