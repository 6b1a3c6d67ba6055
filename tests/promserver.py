"""A real Prometheus on loopback for the tests: series backfilled with promtool, or scraped live.

Data goes in two ways:

- **Backfill**: `Series` (a name, labels, `(unix seconds, value)` samples) are written as
  OpenMetrics text with explicit timestamps and turned into TSDB blocks by `promtool tsdb
  create-blocks-from openmetrics`. `PromServer.backfill` stops the server, adds the blocks and
  starts it again (a start costs about 0.1-0.5 s; Prometheus only notices new blocks on its own
  minute-long reload cycle otherwise). `night_series` turns a sample night (samples/nights/*.csv,
  `gate.trace`) into what the owner's Prometheus would hold: `gpu_pod_memory_used_bytes` per
  process with the exporter's labels, and `up{job="gpu-pod-memory"}` (1 while the exporter
  answered, 0 at the steps of an outage, where the memory series have a gap).
- **Live scrape**: `PromServer(scrape=[url])` scrapes loopback targets (a `FakeExporter`) at
  `scrape_interval`, so `timestamp()` of a sample is the scrape time, staleness markers are
  real, and so on. The first scrape comes about 5 s after start-up (2.42's scrape manager
  applies its targets on a 5-second tick; no flag changes it): share a scraping server within
  a module where you can.

What a test must know (found by running Debian's Prometheus 2.42):

- **Instant queries are evaluated at "now"** unless they pass `time=`; the gate's
  `gate.sources.prometheus.Source` passes none. Backfilled nights are in the past, so an instant
  query sees nothing of them. For an instant-query test, backfill the night shifted to end just
  before now (`night_series(..., ending_at=now)`) on a server with the default 5-minute lookback,
  or query with `PromServer.query(q, at=...)`. An instant answer is stamped with the evaluation
  time, not the sample's: only `timestamp(x)` tells when x was scraped (the gate's Prometheus
  source asks `timestamp(up{...})` for that). promtool accepts samples up to the present (it
  does not refuse data newer than a head block: there is no head when the server is stopped).
  Do not backfill the future: a live scrape after a backfill can only append samples newer than
  the newest backfilled block (older ones are "out of bounds").
- **No staleness markers in a backfill**: OpenMetrics text cannot carry Prometheus' stale NaN,
  so a pod that left keeps answering for the lookback (5 minutes by default) after its last
  sample, where the real server would have marked it stale at the next scrape. For range reads
  of nights, start the server with `lookback="14s"` (just under the nights' 15 s step) and query
  at steps aligned with the samples: each step then sees exactly that scrape, as with stale
  markers.
- Backfilled data is subject to retention: the server runs with `--storage.tsdb.retention.time`
  100y so a night from months ago is not deleted at start-up.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode, urlsplit
from urllib.request import urlopen

import yaml
from loopback import unused_port

from gate.trace import Trace, load_csv

NIGHTS = Path(__file__).resolve().parent.parent / "samples" / "nights"
EXPORTER_JOB = "gpu-pod-memory"  # the owner's scrape job for gpu-pod-exporter
EXPORTER_INSTANCE = "gpu-pod-exporter.nvidia.svc:80"
UP_QUERY = f'max(up{{job="{EXPORTER_JOB}"}})'
MISSING_TOOLS = "Debian's prometheus package is not installed: run `make prometheus-tools` (make test does)"


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found on PATH. {MISSING_TOOLS}")
    return found


# ---------------------------------------------------------------------------------------------
# Series and OpenMetrics text


@dataclass
class Series:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    samples: list[tuple[float, float]] = field(default_factory=list)  # (unix seconds, value)

    @classmethod
    def over(
        cls,
        name: str,
        labels: dict[str, str],
        start: datetime,
        end: datetime,
        step_seconds: float,
        value: float | Callable[[datetime], float | None],
    ) -> Series:
        """Samples every `step_seconds` in [start, end]; `value` a constant or a function of the
        time (None: no sample then, a gap)."""
        samples = []
        t = start
        while t <= end:
            v = value(t) if callable(value) else value
            if v is not None:
                samples.append((t.timestamp(), float(v)))
            t += timedelta(seconds=step_seconds)
        return cls(name, dict(labels), samples)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if value != int(value) or abs(value) >= 1e15 else str(int(value))


def openmetrics(series: Iterable[Series]) -> str:
    """OpenMetrics text with explicit timestamps, one family per metric name (OpenMetrics does
    not allow a family's samples to be interleaved with another's), ending with `# EOF`."""
    # Series with the same name and labels (e.g. `up` of several nights) are one series.
    families: dict[str, dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]] = defaultdict(dict)
    for s in series:
        key = tuple(sorted((str(k), str(v)) for k, v in s.labels.items()))
        families[s.name].setdefault(key, []).extend(s.samples)
    lines = []
    for name in sorted(families):
        # `unknown` accepts any sample name (a counter family would demand the _total suffix).
        lines.append(f"# TYPE {name} unknown")
        for key, samples in families[name].items():
            samples.sort()
            stamps = [t for t, _ in samples]
            if len(set(stamps)) != len(stamps):
                raise ValueError(f"{name}{dict(key)}: two samples at the same time")
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
            head = f"{name}{{{labels}}}" if labels else name
            lines.extend(f"{head} {_number(v)} {t:.3f}" for t, v in samples)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def backfill(series: Iterable[Series], datadir: Path) -> None:
    """Writes blocks for `series` into `datadir` (the server must not be running on it)."""
    datadir.mkdir(parents=True, exist_ok=True)
    text = openmetrics(series)
    source = datadir.parent / f"backfill-{time.monotonic_ns()}.om"
    source.write_text(text)
    try:
        done = subprocess.run(
            [binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source), str(datadir)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        source.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"promtool backfill failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}")


# ---------------------------------------------------------------------------------------------
# The sample nights as the owner's Prometheus holds them


def sample_night(name: str) -> Trace:
    """samples/nights/<name>.csv as a gate.trace.Trace."""
    return load_csv(NIGHTS / f"{name}.csv")


def sample_night_names() -> list[str]:
    return sorted(p.stem for p in NIGHTS.glob("*.csv"))


def _container(pod: str) -> str:
    # A Deployment's pod is <deployment>-<replicaset hash>-<suffix>; its container is named after it.
    parts = pod.split("-")
    return "-".join(parts[:-2]) if len(parts) > 2 else pod


def _pid(namespace: str, pod: str) -> str:
    return str(1000 + zlib.crc32(f"{namespace}/{pod}".encode()) % 60000)


def night_series(
    trace: Trace,
    *,
    every_seconds: float | None = None,
    ending_at: datetime | None = None,
    job: str = EXPORTER_JOB,
    instance: str = EXPORTER_INSTANCE,
) -> list[Series]:
    """`gpu_pod_memory_used_bytes{namespace,pod,container,process_name,pid}` (one process per pod,
    with the scrape's `job` and `instance`) and `up{job,instance}` for a night.

    Scrape times run from the trace's start to its end every `every_seconds` (default: the
    trace's own step, every recorded scrape; 120 for the owner's 2-minute scrape interval, each
    scrape then sees the newest snapshot no older than the trace's step). A scrape time with no
    snapshot is an outage: `up` 0 and no memory samples. `ending_at` shifts the whole night so
    its last scrape is at that time (for instant queries at "now")."""
    step = every_seconds or trace.step_seconds
    shift = (ending_at - trace.end) if ending_at is not None else timedelta(0)
    up = Series("up", {"job": job, "instance": instance})
    memory: dict[tuple[str, str], Series] = {}
    t = trace.start
    while t <= trace.end:
        if every_seconds is None:
            snapshot = trace.latest(t)
            snapshot = snapshot if snapshot is not None and snapshot.time == t else None
        else:
            snapshot = trace.fresh(t)
        when = (t + shift).timestamp()
        up.samples.append((when, 1.0 if snapshot is not None else 0.0))
        for pod in snapshot.pods if snapshot is not None else ():
            key = (pod.namespace, pod.pod)
            if key not in memory:
                labels = {
                    "namespace": pod.namespace,
                    "pod": pod.pod,
                    "container": _container(pod.pod),
                    "process_name": "python3",
                    "pid": _pid(pod.namespace, pod.pod),
                    "job": job,
                    "instance": instance,
                }
                memory[key] = Series("gpu_pod_memory_used_bytes", labels)
            memory[key].samples.append((when, float(pod.used_bytes)))
        t += timedelta(seconds=step)
    return [up, *memory.values()]


# ---------------------------------------------------------------------------------------------
# The server


class PromError(Exception):
    """The server answered a query with an error (bad PromQL, a timeout)."""


class PromServer:
    """A Prometheus on 127.0.0.1:<free port> over its own data directory.

    `scrape`: loopback URLs (e.g. `FakeExporter.url`) scraped as job `scrape_job` every
    `scrape_interval`. `rule_files`: rule files loaded (and evaluated every
    `evaluation_interval`). `lookback`: `--query.lookback-delta` (None: Prometheus' 5m).
    `scrape_configs`: more scrape configs as they are (e.g. a kubernetes_sd_config against a
    loopback API server)."""

    def __init__(
        self,
        workdir: Path,
        *,
        scrape: Sequence[str] = (),
        scrape_job: str = EXPORTER_JOB,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        rule_files: Sequence[Path] = (),
        lookback: str | None = None,
        scrape_configs: Sequence[dict[str, Any]] = (),
    ):
        self.workdir = Path(workdir)
        self.datadir = self.workdir / "data"
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.scrape = list(scrape)
        self.scrape_job = scrape_job
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.rule_files = [Path(p) for p in rule_files]
        self.lookback = lookback
        self.extra_scrape_configs = list(scrape_configs)
        self.port = 0
        self._process: subprocess.Popen | None = None
        self._log = self.workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        config: dict[str, Any] = {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.evaluation_interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [],
        }
        if self.scrape:
            by_path: dict[str, list[str]] = defaultdict(list)
            for url in self.scrape:
                parts = urlsplit(url)
                if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                    raise ValueError(f"{url}: the tests scrape loopback only")
                by_path[parts.path or "/metrics"].append(parts.netloc)
            for n, (path, targets) in enumerate(sorted(by_path.items())):
                config["scrape_configs"].append(
                    {
                        # One job name per metrics path; the first keeps `scrape_job` as is.
                        "job_name": self.scrape_job if n == 0 else f"{self.scrape_job}-{n}",
                        "metrics_path": path,
                        "scrape_timeout": self.scrape_interval,
                        "static_configs": [{"targets": targets}],
                    }
                )
        config["scrape_configs"].extend(self.extra_scrape_configs)
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def start(self, timeout: float = 30.0) -> PromServer:
        if self._process is not None:
            return self
        config = self._config()
        for _attempt in range(3):  # a free port can be taken between probing and binding
            self.port = unused_port()
            command = [
                binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.datadir}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                # Backfilled nights are months old: keep them.
                "--storage.tsdb.retention.time=100y",
                "--log.level=warn",
            ]
            if self.lookback:
                command.append(f"--query.lookback-delta={self.lookback}")
            with self._log.open("ab") as log:
                self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
            if self._wait_ready(timeout):
                return self
            self.stop()
            if "address already in use" not in self.log_tail():
                break
        raise RuntimeError(f"prometheus did not become ready on {self.url}:\n{self.log_tail()}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                with urlopen(self.url + "/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self._log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def backfill(self, series: Iterable[Series]) -> PromServer:
        """Adds `series` (restarting the server if it runs, so it loads the new blocks)."""
        running = self._process is not None
        self.stop()
        backfill(series, self.datadir)
        return self.start() if running else self

    def backfill_night(self, trace: Trace | str, **kwargs: Any) -> Trace:
        """A sample night (a name in samples/nights, or a Trace) as `night_series` writes it."""
        trace = sample_night(trace) if isinstance(trace, str) else trace
        self.backfill(night_series(trace, **kwargs))
        return trace

    def __enter__(self) -> PromServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the HTTP API ---------------------------------------------------------------------------

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path>: the `data` of a successful answer, else PromError."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urlencode({k: v for k, v in params.items() if v is not None})
        try:
            with urlopen(url, timeout=30) as answer:
                body = json.load(answer)
        except HTTPError as exc:
            body = json.load(exc)
        if body.get("status") != "success":
            raise PromError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str, at: datetime | float | None = None) -> list[dict[str, Any]]:
        """An instant query (at `at`, else now): the result list."""
        when = at.timestamp() if isinstance(at, datetime) else at
        return self.api("query", query=promql, time=None if when is None else f"{when:.3f}")["result"]

    def query_range(self, promql: str, start: datetime, end: datetime, step_seconds: float) -> list[dict[str, Any]]:
        span = {"start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}", "step": f"{step_seconds:g}"}
        return self.api("query_range", query=promql, **span)["result"]

    def wait_for(self, promql: str, timeout: float = 15.0, at: datetime | None = None) -> list[dict[str, Any]]:
        """Polls an instant query until it returns something (a live scrape, a rule evaluation)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql, at)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


__all__ = [
    "EXPORTER_JOB",
    "UP_QUERY",
    "PromError",
    "PromServer",
    "Series",
    "backfill",
    "night_series",
    "openmetrics",
    "sample_night",
    "sample_night_names",
    "utc",
]
