"""`gate check`, what `helm test` runs: can the gate see, may it act, and does the server speak?

1. metrics: the configured source answers and can be trusted;
2. RBAC: every call the gate makes, as a server-side dry run (dryRun=All: authorized and
   validated by the API server, persisted nowhere);
3. the server: when the Deployment wants a replica, the server must answer with the model loaded
   on the GPU, and `POST /v1/audio/speech` must turn a short phrase into WAV audio. A server that
   does not answer while the Deployment is at 0 replicas (outside the window, or yielded) is
   skipped, and says so: a test at any hour of a sound install passes, without claiming a
   synthesis it did not see. Asked to synthesize (`--synthesize`, the chart's
   testFramework.synthesize), the same is a failure: nothing can prove a synthesis until the gate
   takes the card. One that accepts the connection but does not answer in time is busy: a
   synthesis blocks its event loop, so it is reported as not checked (asked to synthesize, the
   phrase is queued behind it, within the synthesis' time limit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import requests

from gate import policy
from gate.kube.client import KubeClient
from gate.kube.errors import KubeError
from gate.live import lease_name, look_live, read_state, write_state
from gate.options import Options
from gate.sources import DeviceSource, Source, SourceConfig
from gate.status import ExitStatus, for_kube_error
from gate.units import format_size


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str
    status: ExitStatus = ExitStatus.OK
    skipped: bool = False  # passed without being checked (the server at 0 replicas)


def check_metrics(source: Source, settings: policy.Settings, now: datetime, device: DeviceSource | None = None) -> CheckResult:
    view = look_live(source, settings, now, device=device)
    if view.blind:
        # The URLs in full, as the values set them: a reason names only the host, and a fresh
        # install's first failure is usually a source that is not where gate.metricsUrl says.
        urls = "; ".join(f"{s.name} at {s.config.url}" for s in (source, device) if isinstance(getattr(s, "config", None), SourceConfig))
        detail = f"{view.blind_reason or 'blind'} (reading {urls})" if urls else view.blind_reason or "blind"
        return CheckResult("metrics", False, detail, ExitStatus.METRICS)
    sources = f"{source.name} and {device.name}" if device is not None else source.name
    return CheckResult(
        "metrics",
        True,
        f"{sources}: residents {format_size(view.resident_bytes)}, free {format_size(view.free_bytes)} of {format_size(view.total_bytes)}",
    )


def check_rbac(kube: KubeClient, settings: policy.Settings) -> CheckResult:
    namespace, name = settings.namespace, settings.deployment
    steps: list[tuple[str, Callable[[], object]]] = []
    try:
        deployment, state = read_state(kube, settings)  # get deployments, get leases
        lease = lease_name(settings)
        steps = [
            ("patch deployments/scale", lambda: kube.scale(namespace, name, state.replicas, dry_run=True)),
            ("create leases", lambda: kube.create_lease(namespace, f"{lease}-check", dry_run=True)),
            ("update leases", lambda: write_state(kube, settings, {policy.ROOM_SINCE: None}, dry_run=True)),
            ("create events", lambda: kube.record_event(deployment, "GateCheck", "helm test: RBAC check", dry_run=True)),
        ]
        for _, step in steps:
            step()
    except KubeError as exc:
        return CheckResult("rbac", False, str(exc), for_kube_error(exc))
    return CheckResult("rbac", True, f"get deployments and leases, {', '.join(label for label, _ in steps)} in {namespace}")


def desired_replicas(kube: KubeClient, settings: policy.Settings) -> int | None:
    """The Deployment's desired replicas, or None when it cannot be read (the RBAC check says why)."""
    try:
        _, state = read_state(kube, settings)
    except KubeError:
        return None
    return state.replicas


def _unanswered(exc: requests.exceptions.RequestException) -> str:
    text = str(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timed out"
    if "Connection refused" in text:
        return "connection refused"
    if "NameResolution" in text or "Name or service not known" in text or "nodename nor servname" in text:
        return "name not resolved"
    return type(exc).__name__


def check_server(
    server_url: str,
    voice: str,
    phrase: str,
    timeout_seconds: float,
    synth_timeout_seconds: float,
    wanted: int | None,
    allow_cpu: bool = False,
    synthesize: bool = False,
) -> CheckResult:
    """`wanted`: the Deployment's desired replicas (None: unknown, treated as wanted); `allow_cpu`
    accepts a model on the CPU, as the startup probe does with server.allowCpu; `synthesize`: a
    synthesis must be seen (no skip)."""
    base = server_url.rstrip("/")
    try:
        info = requests.get(f"{base}/api/model-info", timeout=timeout_seconds)
    except requests.exceptions.ReadTimeout:
        if not synthesize:
            busy = f"{base} took the connection but gave no answer within {timeout_seconds:g}s: busy synthesizing"
            return CheckResult("server", True, f"{busy}, not checked", skipped=True)
        # Asked to synthesize: the phrase waits its turn. The device is the startup probe's word
        # (it refuses a model off the GPU).
        return _check_synthesis(base, voice, phrase, synth_timeout_seconds, "model ? on its device unchecked (busy at first)")
    except requests.exceptions.RequestException as exc:
        return _not_answering(base, _unanswered(exc), wanted, synthesize)
    model = _model_info(info)
    if info.status_code != 200 or not model.get("loaded"):
        unloaded = f"{base}/api/model-info: HTTP {info.status_code}, model not loaded (see the server's log)"
        return CheckResult("server", False, unloaded, ExitStatus.SERVER)
    device = str(model.get("device", ""))
    if not device.startswith("cuda") and not (allow_cpu and device == "cpu"):
        return CheckResult(
            "server",
            False,
            f"the model loaded on {device or 'an unknown device'}, not the GPU (cuda fell back?)",
            ExitStatus.SERVER,
        )
    return _check_synthesis(base, voice, phrase, synth_timeout_seconds, f"model {model.get('type', '?')} on {device}")


def _model_info(info: requests.Response) -> dict:
    """/api/model-info's answer; {} when it is not JSON."""
    try:
        return info.json()
    except ValueError:
        return {}


def _not_answering(base: str, why: str, wanted: int | None, synthesize: bool) -> CheckResult:
    """A server that does not answer: down as it should be at 0 replicas (skipped, unless a
    synthesis was asked for), else a failure."""
    if wanted == 0:
        down = (
            f"{base} is not answering ({why}) and the Deployment is at 0 replicas: the server is down "
            "(the gate holds no card now: outside the window, no room, paused, or it yielded the GPU)"
        )
        if synthesize:
            return CheckResult(
                "server",
                False,
                f"asked to synthesize, but {down}; run helm test again while the gate holds the card (gate status says why not)",
                ExitStatus.SERVER,
            )
        unchecked = f"{down}; synthesis not checked (testFramework.synthesize makes this a failure)"
        return CheckResult("server", True, unchecked, skipped=True)
    wants = f"the Deployment wants {wanted} replica(s)" if wanted else "the Deployment's replicas could not be read"
    return CheckResult(
        "server",
        False,
        f"{wants} but {base} does not answer ({why}): the pod is starting, failing, or has no ready endpoint",
        ExitStatus.SERVER,
    )


def _check_synthesis(base: str, voice: str, phrase: str, synth_timeout_seconds: float, model: str) -> CheckResult:
    """`POST /v1/audio/speech` must turn the phrase into WAV audio; `model` says what answered."""
    body = {"model": "chatterbox", "input": phrase, "voice": voice, "response_format": "wav"}
    try:
        speech = requests.post(f"{base}/v1/audio/speech", json=body, timeout=synth_timeout_seconds)
    except requests.exceptions.ReadTimeout:
        return CheckResult(
            "server",
            False,
            f"POST /v1/audio/speech: no audio within {synth_timeout_seconds:g}s (--synth-timeout, the chart's "
            "testFramework.synthTimeout; keep it under helm test's --timeout)",
            ExitStatus.SERVER,
        )
    except requests.exceptions.RequestException as exc:
        return CheckResult("server", False, f"POST /v1/audio/speech: {type(exc).__name__}", ExitStatus.SERVER)
    if speech.status_code == 404:
        return CheckResult(
            "server", False, f"voice {voice!r} not found: not among the image's voices nor in reference_audio/ on /data", ExitStatus.SERVER
        )
    if speech.status_code != 200:
        return CheckResult("server", False, f"POST /v1/audio/speech: HTTP {speech.status_code}", ExitStatus.SERVER)
    audio = speech.content
    if len(audio) < 44 or audio[:4] != b"RIFF" or audio[8:12] != b"WAVE":
        return CheckResult("server", False, f"POST /v1/audio/speech answered {len(audio)} bytes that are not WAV", ExitStatus.SERVER)
    return CheckResult("server", True, f"{model}; {len(audio)} bytes of WAV for {phrase!r}")


def run_checks(
    options: Options,
    server_url: str | None,
    voice: str,
    phrase: str,
    synth_timeout_seconds: float | None,
    allow_cpu: bool,
    synthesize: bool = False,
) -> list[CheckResult]:
    """The checks in order: metrics, RBAC, and the server when its URL is given."""
    results = [
        check_metrics(options.source(), options.settings, options.clock(), options.device_source()),
        check_rbac(options.kube(), options.settings),
    ]
    if server_url:
        assert synth_timeout_seconds is not None
        wanted = desired_replicas(options.kube(), options.settings)
        results.append(
            check_server(server_url, voice, phrase, options.timeout_seconds, synth_timeout_seconds, wanted, allow_cpu, synthesize)
        )
    return results
