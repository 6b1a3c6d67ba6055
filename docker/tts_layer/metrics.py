"""The server's own Prometheus metrics (prometheus-client), served on a port of their own by one
thread that never touches synthesis: the counters are bumped by the synthesis path (a lock-free
increment each), and what is read at scrape time (host RSS, the hooks on the model, bytes on the
card) is read by the scrape thread without any lock the synthesis path takes. One scrape at a
time, each connection bounded by a socket timeout, so a slow or stuck scraper delays only other
scrapes.

Series (all prefixed tts_server_):
  requests_total{endpoint,code}        client requests to the speech endpoints, by status code
  chunks_total{outcome}                generate() calls (the server splits a text into chunks):
                                       ok, failed (upstream caught an error), aborted (a park)
  audio_seconds_total                  seconds of audio made
  synthesis_seconds (histogram)        seconds per generate() call
  realtime_factor                      synthesis seconds per second of audio, the last chunk
  realtime_factor_baseline             the median of this process's first 5 chunks (the alert's yardstick)
  host_memory_bytes                    the process's resident set (RSS)
  model_hooks                          forward and pre-forward hooks on the loaded model's modules
  errors_total{stage}                  synthesis, park, unpark, metrics
  fix_applied{fix}                     1 when an upstream fix found its structure and is applied
  park_state{state}                    1 for the current state (serving, parking, parked, unparking, failed)
  parks_total, unparks_total           completed parks and unparks
  park_failures_total{op}              parks and unparks that failed or passed their deadline
  park_duration_seconds{op} (histogram) seconds per park and unpark (asked to done)
  device_memory_bytes{kind}            allocated and reserved by this process on its card (CUDA only)
  model_host_bytes                     the parked model's copy in host memory (0 while serving)
"""

from __future__ import annotations

import logging
import os
import socket
import statistics
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .states import Phase

log = logging.getLogger("tts_layer")

# A T4 speaks a 120-character chunk in a few seconds; a leak or a CPU fallback takes minutes.
SYNTHESIS_BUCKETS = (0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
PARK_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)
BASELINE_CHUNKS = 5
SCRAPE_SOCKET_TIMEOUT = 5.0


def rss_bytes() -> int | None:
    """The resident set of this process (Linux /proc), None elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class LiveCollector:
    """Values read at scrape time from callables; one that raises is left out of that scrape and
    counted as a metrics error, never raised to the scraper."""

    def __init__(self, readers: dict[str, tuple[str, Callable[[], object]]], errors: Counter) -> None:
        self.readers = readers
        self.errors = errors

    def describe(self):
        return []  # read nothing at registration: the readers may not have anything to read yet

    def collect(self):
        for name, (help_text, read) in self.readers.items():
            try:
                value = read()
            except Exception as error:
                self.errors.labels("metrics").inc()
                log.debug("metric %s unreadable: %s", name, error)
                continue
            if value is None:
                continue
            if isinstance(value, dict):
                family = GaugeMetricFamily(name, help_text, labels=["kind"])
                for kind, number in value.items():
                    family.add_metric([kind], float(number))
            else:
                family = GaugeMetricFamily(name, help_text, value=float(value))
            yield family


class ServerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # process_cpu_seconds_total and friends: CPU seconds per synthesis are what a soak on a
        # shared machine can compare (wall time carries the neighbours' load).
        ProcessCollector(registry=r)
        self.requests = Counter("tts_server_requests", "Client requests to the speech endpoints", ["endpoint", "code"], registry=r)
        self.chunks = Counter("tts_server_chunks", "generate() calls by outcome", ["outcome"], registry=r)
        self.audio_seconds = Counter("tts_server_audio_seconds", "Seconds of audio made", registry=r)
        self.synthesis_seconds = Histogram(
            "tts_server_synthesis_seconds", "Seconds per generate() call", buckets=SYNTHESIS_BUCKETS, registry=r
        )
        self.errors = Counter("tts_server_errors", "Errors by stage", ["stage"], registry=r)
        self.fix_applied = Gauge("tts_server_fix_applied", "1 when an upstream fix is applied", ["fix"], registry=r)
        self.park_state = Gauge("tts_server_park_state", "1 for the control layer's current state", ["state"], registry=r)
        self.parks = Counter("tts_server_parks", "Completed parks", registry=r)
        self.unparks = Counter("tts_server_unparks", "Completed unparks", registry=r)
        self.park_failures = Counter(
            "tts_server_park_failures", "Parks and unparks that failed or passed their deadline", ["op"], registry=r
        )
        self.park_seconds = Histogram(
            "tts_server_park_duration_seconds", "Seconds per park and unpark", ["op"], buckets=PARK_BUCKETS, registry=r
        )
        for outcome in ("ok", "failed", "aborted"):
            self.chunks.labels(outcome)
        for stage in ("synthesis", "park", "unpark", "metrics"):
            self.errors.labels(stage)
        for op in ("park", "unpark"):
            self.park_failures.labels(op)
        self.set_state(Phase.SERVING)
        self._first_factors: list[float] = []
        self._lock = threading.Lock()
        # The real-time factors exist once a chunk has been made (a 0 would read as "infinitely fast").
        self.realtime_factor: float | None = None
        self.realtime_factor_baseline: float | None = None
        self.live = LiveCollector(
            {
                "tts_server_realtime_factor": ("Synthesis seconds per second of audio, the last chunk", lambda: self.realtime_factor),
                "tts_server_realtime_factor_baseline": (
                    f"Median real-time factor of this process's first {BASELINE_CHUNKS} chunks",
                    lambda: self.realtime_factor_baseline,
                ),
            },
            self.errors,
        )
        r.register(self.live)

    def set_state(self, phase: Phase) -> None:
        for each in Phase:
            self.park_state.labels(each.value).set(1 if each is phase else 0)

    def chunk_done(self, synthesis_seconds: float, audio_seconds: float) -> None:
        self.chunks.labels("ok").inc()
        self.synthesis_seconds.observe(synthesis_seconds)
        self.audio_seconds.inc(audio_seconds)
        if audio_seconds <= 0:
            return
        factor = synthesis_seconds / audio_seconds
        self.realtime_factor = factor
        with self._lock:
            if len(self._first_factors) < BASELINE_CHUNKS:
                self._first_factors.append(factor)
                self.realtime_factor_baseline = statistics.median(self._first_factors)

    def add_live(self, readers: dict[str, tuple[str, Callable[[], object]]]) -> None:
        """Add values read at scrape time (None: no sample this scrape)."""
        self.live.readers = {**self.live.readers, **readers}


class _ScrapeHandler(BaseHTTPRequestHandler):
    registry: CollectorRegistry

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.split("?")[0] not in ("/metrics", "/"):
            self.send_error(404)
            return
        body = generate_latest(self.registry)
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # scrapes are not worth a log line each
        pass


class _BoundedServer(HTTPServer):
    """One request at a time; a connection that stalls is cut after SCRAPE_SOCKET_TIMEOUT."""

    def get_request(self):
        connection, address = super().get_request()
        connection.settimeout(SCRAPE_SOCKET_TIMEOUT)
        return connection, address


def serve(registry: CollectorRegistry, host: str, port: int) -> HTTPServer:
    """Serve /metrics on host:port from a daemon thread; returns the server (port 0 picks one)."""
    handler = type("ScrapeHandler", (_ScrapeHandler,), {"registry": registry})
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("ScrapeServer", (_BoundedServer,), {"address_family": family})
    server = server_class((host, port), handler)
    threading.Thread(target=server.serve_forever, name="tts-layer-metrics", daemon=True).start()
    return server
