from __future__ import annotations

import fcntl
import os
import pickle
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from exporter import FakeExporter, fixture  # noqa: E402
from kubeapi import FakeKubeAPI  # noqa: E402
from promserver import PromServer, night_series, sample_night, sample_night_names  # noqa: E402


@pytest.fixture
def exporter() -> Iterator[FakeExporter]:
    with FakeExporter() as server:
        yield server


@pytest.fixture
def kubeapi() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as server:
        yield server


T = TypeVar("T")


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[], T]) -> T:
    """`make()` once for the whole run, whichever xdist worker asks first (the others wait for it
    and read what it wrote): for results that cost a minute, which every worker would otherwise
    make again. The run's own folder holds it (the workers' temporary folders are inside it), so
    nothing outlives the run; a run without workers just makes it."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return make()
    folder = tmp_path_factory.getbasetemp().parent
    made = folder / f"{name}.pickle"
    with (folder / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not made.exists():  # written whole or not at all: a worker cut off mid-write leaves nothing
            partial = made.with_suffix(".partial")
            partial.write_bytes(pickle.dumps(make()))
            partial.replace(made)
        return pickle.loads(made.read_bytes())


NIGHT = "2026-11-12T02:30:00Z"  # 02:30 GMT, inside the default window

# The command line's shared options at their defaults, as gate.options.request takes them.
SHARED_OPTIONS = {
    "namespace": "tts",
    "deployment": "chatterbox-tts",
    "config": None,
    "kubeconfig": None,
    "context": None,
    "dry_run": False,
    "output": "text",
    "now": None,
    "debug": False,
}


def live_env(kubeapi: FakeKubeAPI, exporter: FakeExporter, directory: Path) -> dict[str, str]:
    """The live commands' environment against these doubles, at 02:30 on a November night (the
    kubeconfig is written into `directory`)."""
    directory.mkdir(parents=True, exist_ok=True)
    return {
        "KUBECONFIG": kubeapi.kubeconfig(directory / "kubeconfig", namespace="tts"),
        "GATE_METRICS_URL": exporter.url,
        "GATE_TOTAL": "15360MiB",
        "GATE_FLOOR": "6GiB",
        "GATE_WINDOW": "02:00-06:00",
        "GATE_TIMEZONE": "Europe/London",
        "GATE_NOW": NIGHT,
    }


@pytest.fixture
def env(exporter, kubeapi, tmp_path) -> dict[str, str]:
    """The live commands' environment: the loopback exporter (residents 6,600 MiB with its
    `unknown` Xorg process, room for the server) and API double, at 02:30 on a November night."""
    exporter.serve(fixture("gpu-pod-exporter.prom"))
    return live_env(kubeapi, exporter, tmp_path)


# A real Prometheus, Debian's binary (tests/promserver.py: its docstring says what a test must know).
@pytest.fixture(scope="session")
def prometheus_nights(tmp_path_factory) -> Iterator[PromServer]:
    """One server for the session with every samples/nights night backfilled (each on its own
    date, so they do not collide). Read-only: backfill your own series into `prometheus_factory`.
    Its lookback is 14 s (the nights' step is 15 s) so a pod that left is gone at the next step,
    as stale markers would make it; query ranges at steps aligned with the nights' samples."""
    server = PromServer(tmp_path_factory.mktemp("prometheus-nights"), lookback="14s")
    server.backfill([s for name in sample_night_names() for s in night_series(sample_night(name))])
    with server:
        yield server


@pytest.fixture
def prometheus_factory(tmp_path) -> Iterator[Callable[..., PromServer]]:
    """make(series=..., nights=..., **PromServer options) -> a started server of this test's own;
    all are stopped at teardown. `nights`: names in samples/nights, backfilled as is."""
    servers: list[PromServer] = []

    def make(series: Iterable = (), nights: Iterable[str] = (), **options) -> PromServer:
        server = PromServer(tmp_path / f"prometheus-{len(servers)}", **options)
        servers.append(server)
        backfilled = [*series, *(s for name in nights for s in night_series(sample_night(name)))]
        if backfilled:
            server.backfill(backfilled)
        return server.start()

    yield make
    for server in servers:
        server.stop()
