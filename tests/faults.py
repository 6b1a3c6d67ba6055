"""The fault matrix: every fault the gate can meet, per command, and what must come of it.

tests/test_faults.py runs each cell; `python tests/faults.py` writes docs/faults.md from the same
data (a test keeps the two equal), so the document cannot drift from what is tested.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from exporter import Answer, Gpu, dcgm_answer, fixture  # noqa: E402
from kubeapi import Fault  # noqa: E402

NIGHT = "2026-11-12T02:30:00Z"
NIGHT_MS = 1_794_450_600_000  # NIGHT in milliseconds, for exposition timestamps
HEADER = "# HELP gpu_pod_memory_used_bytes GPU memory used by pod\n# TYPE gpu_pod_memory_used_bytes gauge\n"
SERIES = (
    'gpu_pod_memory_used_bytes{namespace="immich",pod="immich-machine-learning-7d9f8b6c5d-x2k4p",'
    'container="ml",process_name="python",pid="1"}'
)
GOOD = fixture("gpu-pod-exporter.prom").decode()

COMMANDS = ("preflight", "guard", "guard --watch", "down", "status")
# Where each command starts: preflight and status from 0 replicas (the card free to take), the
# others holding it.
START_REPLICAS = {"preflight": 0, "guard": 1, "guard --watch": 1, "down": 1, "status": 0}


@dataclass(frozen=True)
class Outcome:
    decision: str  # the decision's reason, or "-" when the command stops before deciding
    replicas: int | None  # what the API double ends with; None: there is no Deployment
    exit: int

    def __str__(self) -> str:
        replicas = "no Deployment" if self.replicas is None else f"replicas {self.replicas}"
        return f"{self.decision}, {replicas}, exit {self.exit}"


@dataclass(frozen=True)
class ExporterFault:
    name: str
    answer: Callable[[], Answer] | None  # what the exporter serves; None: see `url`
    cause: str  # what the one-line message must name
    kind: str = "blind"  # blind, idle (a free card), crowded (no room, not blind) or starting (see below)
    url: str | None = None  # a metrics URL other than the exporter's
    env: dict[str, str] = field(default_factory=dict)
    dns_failure: bool = False
    # A dcgm-exporter read beside it (GATE_DEVICE_SOURCE=dcgm): what it serves, or a URL of its own.
    device: Callable[[], Answer] | None = None
    device_url: str | None = None
    # The gate's state (its Lease), for the commands that start holding the card.
    annotations: dict[str, str] = field(default_factory=dict)


def _text(body: str, **kwargs: Any) -> Callable[[], Answer]:
    return lambda: Answer(body.encode(), **kwargs)


def _process(namespace: str, pod: str, pid: int, mib: int) -> str:
    """One series as the owner's exporter writes it: per process, MiB x 1048576."""
    container = "unknown" if namespace == "unknown" else pod.rsplit("-", 2)[0]
    return (
        f'gpu_pod_memory_used_bytes{{namespace="{namespace}",pod="{pod}",container="{container}",'
        f'process_name="python3",pid="{pid}"}} {mib * 1048576}\n'
    )


# The owner's steady residents (~4.6 GiB), as the exporter lists them.
STEADY = (
    _process("immich", "immich-server-6c9d8b7f4d-2xk9p", 2211, 1230)
    + _process("frigate", "frigate-7b5f9c8d6-mz4tq", 3012, 1950)
    + _process("portal", "portal-stt-5d7c6b9f8-w8r2n", 4120, 1540)
)
# The server's just-started process before the exporter's pod cache knows its container.
OWN_UNLABELLED = _process("unknown", "unknown", 5502, 4608)
IMMICH_ML_AWAKE = _process("immich", "immich-machine-learning-7d9f8b6c5d-x2k4p", 3121, 5120)
ENTERED_A_MINUTE_AGO = {"tts.gate/entered-at": "2026-11-12T02:29:00Z", "tts.gate/entry-unattributed-bytes": "0"}


def _dcgm(used_mib: int, reserved_mib: int = 449) -> Callable[[], Answer]:
    """dcgm-exporter's answer for a T4 (15360 MiB) with this much in use."""
    labels = '{gpu="0",UUID="GPU-6d5c0ac5",device="nvidia0",modelName="Tesla T4",Hostname="node1"}'
    free = 15360 - used_mib - reserved_mib
    body = "".join(
        f"# HELP {name} Framebuffer memory (in MiB).\n# TYPE {name} gauge\n{name}{labels} {value}\n"
        for name, value in (("DCGM_FI_DEV_FB_FREE", free), ("DCGM_FI_DEV_FB_USED", used_mib), ("DCGM_FI_DEV_FB_RESERVED", reserved_mib))
    )
    return _text(body)


# A GPU node with two T4s as dcgm-exporter answers for it (tests/exporter.py): card 0 with the
# owner's steady residents, card 1 nearly full (a resident awake there).
TWO_CARDS = [
    Gpu("node1", 0, "GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a", 4700),
    Gpu("node1", 1, "GPU-7e6d1bd6-85e8-4241-57a2-fa4fe68a570b", 14500, reserved_mib=0),
]
DEVICE_LEVEL = {"GATE_SOURCE": "dcgm", "GATE_TOTAL": "device"}


EXPORTER_FAULTS = [
    ExporterFault("connection refused", None, "connection refused", url="http://127.0.0.1:9/metrics"),
    ExporterFault("DNS failure", None, "DNS lookup failed", url="http://gpu-pod-exporter.nvidia.svc:80/metrics", dns_failure=True),
    ExporterFault("timeout (no answer)", _text(GOOD, delay_seconds=1.5), "no answer within 0.5s"),
    ExporterFault("slow (answers after the timeout)", _text(GOOD * 6, trickle_seconds=0.15), "no complete answer within 0.5s"),
    ExporterFault("trickling body (a byte every 0.2 s)", _text(GOOD, trickle_seconds=0.2, piece=1), "no complete answer within 0.5s"),
    ExporterFault("trickling headers (a byte every 0.2 s)", _text(GOOD, header_trickle_seconds=0.2), "no answer within 0.5s"),
    ExporterFault("HTTP 500", _text("boom", status=500), "HTTP 500"),
    ExporterFault("HTTP 503", _text("", status=503), "HTTP 503"),
    ExporterFault("empty body", _text(""), "no gpu_pod_memory_used_bytes family"),
    ExporterFault("HTML error page", _text("<html><body>502 Bad Gateway</body></html>\n"), "not Prometheus exposition text"),
    ExporterFault("truncated exposition", _text(GOOD[: GOOD.index("pod=") + 9]), "not Prometheus exposition text"),
    ExporterFault("NaN value", _text(HEADER + SERIES + " NaN\n"), "finite non-negative"),
    ExporterFault("+Inf value", _text(HEADER + SERIES + " +Inf\n"), "finite non-negative"),
    ExporterFault("negative value", _text(HEADER + SERIES + " -1048576\n"), "finite non-negative"),
    ExporterFault("duplicate series", _text(HEADER + SERIES + " 1048576\n" + SERIES + " 1048576\n"), "duplicate series"),
    ExporterFault("missing metric family", _text("# TYPE up gauge\nup 1\n"), "no gpu_pod_memory_used_bytes family"),
    ExporterFault("values in MiB, not bytes", _text(HEADER + SERIES + " 2150\n"), "under 1 MiB"),
    ExporterFault(
        "dcgm in bytes, not MiB",
        lambda: Answer(fixture("dcgm-t4.prom").decode().replace("} 9791", "} 10266607616").replace("} 5120", "} 5368709120").encode()),
        "not MiB",
        env={"GATE_SOURCE": "dcgm", "GATE_TOTAL": "device"},
    ),
    ExporterFault("stale samples (10 min old)", _text(HEADER + SERIES + f" 2254438400 {NIGHT_MS - 600_000}\n"), "stale"),
    ExporterFault("clock jumped (samples 10 min ahead)", _text(HEADER + SERIES + f" 2254438400 {NIGHT_MS + 600_000}\n"), "clocks disagree"),
    ExporterFault("impossible timestamp (year 3 million)", _text(HEADER + SERIES + " 2254438400 99999999999999999\n"), "not a time"),
    ExporterFault("enormous body (5 MiB)", _text(HEADER + "# padding\n" * 500_000), "larger than"),
    ExporterFault(
        "HELP/TYPE only: an idle card, or a failed nvidia-smi",
        _text(fixture("gpu-pod-exporter-idle.prom").decode()),
        "lists no GPU process",
    ),
    ExporterFault(
        "HELP/TYPE only, GATE_EMPTY_IS_IDLE=true",
        _text(fixture("gpu-pod-exporter-idle.prom").decode()),
        "",
        kind="idle",
        env={"GATE_EMPTY_IS_IDLE": "true"},
    ),
    ExporterFault(
        "HELP/TYPE only, the device agrees: idle",
        _text(fixture("gpu-pod-exporter-idle.prom").decode()),
        "",
        kind="idle",
        device=_dcgm(0),
    ),
    ExporterFault(
        "HELP/TYPE only, the device sees 9.5 GiB held",
        _text(fixture("gpu-pod-exporter-idle.prom").decode()),
        "nvidia-smi is failing",
        device=_dcgm(9728),
    ),
    ExporterFault("device exporter refuses", _text(GOOD), "device source dcgm", device_url="http://127.0.0.1:9/metrics"),
    ExporterFault(
        "frozen per-pod answer, the device sees 14.5 GiB",
        _text(GOOD),
        "no room",
        kind="crowded",
        device=_dcgm(14848, reserved_mib=0),
    ),
    ExporterFault(
        "start-up: own pod still `unknown` a minute after entry",
        _text(HEADER + STEADY + OWN_UNLABELLED),
        "",
        kind="starting",
        annotations=ENTERED_A_MINUTE_AGO,
    ),
    ExporterFault(
        "start-up, and a resident wakes (5 GiB)",
        _text(HEADER + STEADY + IMMICH_ML_AWAKE + OWN_UNLABELLED),
        "no room",
        kind="crowded",
        annotations=ENTERED_A_MINUTE_AGO,
    ),
    ExporterFault(
        "`unknown` 4.5 GiB 10 minutes after entry",
        _text(HEADER + STEADY + OWN_UNLABELLED),
        "no room",
        kind="crowded",
        annotations={"tts.gate/entered-at": "2026-11-12T02:20:00Z", "tts.gate/entry-unattributed-bytes": "0"},
    ),
    ExporterFault(
        "card: series for other cards only (dcgm, card.node another node)",
        _text(dcgm_answer(TWO_CARDS)),
        "none for the watched card",
        env={**DEVICE_LEVEL, "GATE_CARD_NODE": "node2", "GATE_CARD_DEVICE": "0"},
    ),
    ExporterFault(
        "card: two cards in the answer, card.device not set (dcgm)",
        _text(dcgm_answer(TWO_CARDS)),
        "set card.device (GATE_CARD_DEVICE)",
        env=DEVICE_LEVEL,
    ),
    ExporterFault(
        "card: the node's other card full, ours with room (dcgm, card.device 0)",
        _text(dcgm_answer(TWO_CARDS)),
        "",
        kind="idle",
        env={**DEVICE_LEVEL, "GATE_CARD_NODE": "node1", "GATE_CARD_DEVICE": "0"},
    ),
    ExporterFault(
        "card: ours full, the node's other card with room (dcgm, card.device GPU-7e6d…)",
        _text(dcgm_answer(list(reversed([Gpu(g.node, g.index, g.uuid, 14500 if g.index == 0 else 4700) for g in TWO_CARDS])))),
        "no room",
        kind="crowded",
        env={**DEVICE_LEVEL, "GATE_CARD_DEVICE": "GPU-6d5c0ac5-74d7-3130-46f1-e93ed57f469a"},
    ),
    ExporterFault(
        "pod label unknown: a resident's",
        _text(
            HEADER
            + 'gpu_pod_memory_used_bytes{namespace="unknown",pod="unknown",container="unknown",process_name="x",pid="7"} 10737418240\n'
        ),
        "no room",
        kind="crowded",
    ),
]


def exporter_expectation(command: str, kind: str) -> Outcome:
    """What each command must do, by the kind of answer the exporter gave."""
    if command == "down":
        return Outcome("window-end", 0, 0)  # down reads no metrics
    if kind == "blind":
        return {
            "preflight": Outcome("blind", 0, 3),
            "guard": Outcome("blind", 0, 3),
            "guard --watch": Outcome("blind", 0, 0),
            "status": Outcome("blind", 0, 3),
        }[command]
    if kind == "starting":  # a resident's to a preflight at 0; the server's own to a guard that entered
        return {
            "preflight": Outcome("no-room", 0, 0),
            "guard": Outcome("holding", 1, 0),
            "guard --watch": Outcome("holding", 1, 0),
            "status": Outcome("no-room", 0, 0),
        }[command]
    if kind == "idle":
        return {
            "preflight": Outcome("entered", 1, 0),
            "guard": Outcome("holding", 1, 0),
            "guard --watch": Outcome("holding", 1, 0),
            "status": Outcome("entered", 0, 0),
        }[command]
    return {
        "preflight": Outcome("no-room", 0, 0),
        "guard": Outcome("no-room", 0, 0),
        "guard --watch": Outcome("no-room", 0, 0),
        "status": Outcome("no-room", 0, 0),
    }[command]


@dataclass(frozen=True)
class ApiFault:
    name: str
    setup: Callable[[Any], None]  # configures the API double
    cause: str
    exit: int  # for the commands that make the failing call
    patch_only: bool = False  # only a PATCH fails: status (which only reads) is unaffected
    env: dict[str, str] = field(default_factory=dict)
    kubeconfig: dict[str, Any] = field(default_factory=dict)
    # Calls time out at the client but the server still carries them out (as a real one may):
    # the watch loop's watchdog, holding the card and deciding nothing, gets its scale-down in.
    applied_late: bool = False
    # Cells whose outcome differs from the rule in `api_expectation`, by command.
    outcomes: dict[str, Outcome] = field(default_factory=dict)


# An outage that outlasts the run: the watchdog's give-back fails too, so the cell is the same
# however the loop's iterations and the watchdog's checks interleave. A watchdog that gives the
# card back once the API returns is tested on its own (tests/test_failclosed.py).
OUTAGE = 10_000

API_FAULTS = [
    ApiFault("401 Unauthorized", lambda api: api.tokens.clear(), "HTTP 401", 5),
    ApiFault("403 Forbidden (RBAC)", lambda api: api.denied.add(("get", "deployments")), "RBAC: the gate's Role needs", 5),
    ApiFault("403 on deployments/scale", lambda api: api.denied.add(("patch", "deployments/scale")), "cannot patch resource", 5, True),
    ApiFault("404 Deployment missing", lambda api: api.deployments.clear(), 'deployments.apps "chatterbox-tts" not found', 6),
    ApiFault("409 Conflict", lambda api: api.faults.append(Fault("PATCH", "/scale$", status=409, times=9)), "HTTP 409", 7, True),
    ApiFault("422 Invalid", lambda api: api.faults.append(Fault("PATCH", "/scale$", status=422, times=9)), "HTTP 422", 7, True),
    ApiFault(
        "429, Retry-After 0 (retried once)",
        lambda api: api.faults.append(Fault("*", ".", status=429, headers={"Retry-After": "0"})),
        "",
        0,
    ),
    ApiFault(
        "429, Retry-After 30 (not waited for)",
        lambda api: api.faults.append(Fault("*", ".", status=429, times=OUTAGE, headers={"Retry-After": "30"})),
        "HTTP 429",
        4,
    ),
    ApiFault("500 Internal Error", lambda api: api.faults.append(Fault("*", ".", status=500, times=OUTAGE)), "HTTP 500", 4),
    ApiFault("503 Unavailable", lambda api: api.faults.append(Fault("*", ".", status=503, times=OUTAGE)), "HTTP 503", 4),
    ApiFault(
        "timeout",
        lambda api: api.faults.append(Fault("*", ".", delay_seconds=1.5, then_serve=True, times=OUTAGE)),
        "no answer from",
        4,
        applied_late=True,
    ),
    ApiFault(
        "reset mid-answer, every call",
        lambda api: api.faults.append(Fault("*", ".", reset_mid_answer=True, times=OUTAGE)),
        "part-way through the answer",
        4,
    ),
    ApiFault(
        "reset mid-answer on the scale's answer (applied, answer lost)",
        lambda api: api.faults.append(Fault("PATCH", "/scale$", reset_mid_answer=True, then_serve=True, times=OUTAGE)),
        "part-way through the answer",
        4,
        patch_only=True,
        # The scale is carried out; its answer is lost, so the run stops there (exit 4). The
        # entry's intent was written before it; the yield's record is missing, and reads as a
        # yield all the same (the Deployment's generation moved). The loop sees the card gone.
        outcomes={
            "preflight": Outcome("-", 1, 4),
            "guard": Outcome("-", 0, 4),
            "guard --watch": Outcome("not-holding", 0, 0),
            "down": Outcome("-", 0, 4),
        },
    ),
    ApiFault(
        "429 with a junk Retry-After (nan): the default pause, retried once",
        lambda api: api.faults.append(Fault("*", ".", status=429, headers={"Retry-After": "nan"})),
        "",
        0,
    ),
    ApiFault(
        "429 with Retry-After -1: the default pause, retried once",
        lambda api: api.faults.append(Fault("*", ".", status=429, headers={"Retry-After": "-1"})),
        "",
        0,
    ),
    ApiFault(
        "a 2xx whose body is null",
        lambda api: api.faults.append(Fault("GET", "/deployments/", status=200, raw_body="null", times=OUTAGE)),
        "HTTP 200 with JSON null instead of a Deployment",
        4,
        # Only the reads fail: the loop decides nothing, so its watchdog's scale-down goes through.
        outcomes={"guard --watch": Outcome("-", 0, 0)},
    ),
    ApiFault("token file rotates between calls", lambda api: None, "", 0, kubeconfig={"rotate": True}),
    ApiFault("wrong CA", lambda api: None, "TLS verification", 4, kubeconfig={"wrong_ca": True}),
]


def api_expectation(command: str, fault: ApiFault) -> Outcome:
    """Preflight (at 0, with room) and guard (at 1, without room) try to scale; down scales; status reads."""
    if command in fault.outcomes:
        return fault.outcomes[command]
    changes = {"preflight": (0, 1, "entered"), "guard": (1, 0, "no-room"), "guard --watch": (1, 0, "no-room"), "down": (1, 0, "window-end")}
    if command == "status":
        if fault.patch_only or fault.exit == 0:
            return Outcome("entered", 0, 0)
        return Outcome("-", None if fault.exit == 6 else 0, fault.exit)
    before, after, reason = changes[command]
    if fault.exit == 6:
        before = None  # the Deployment is gone
    if fault.exit == 0:
        return Outcome(reason, after, 0)
    if command == "guard --watch":
        # The loop reports the error and goes on (SIGTERM ends it cleanly); its watchdog, seeing
        # no decision, gives the card back if any call of its own gets through.
        return Outcome("-", 0 if fault.applied_late else before, 0)
    return Outcome("-", before, fault.exit)


@dataclass(frozen=True)
class TimeCell:
    name: str
    now: str
    command: str
    replicas: int
    expected: Outcome
    annotations: dict[str, str] = field(default_factory=dict)


TIME_CELLS = [
    TimeCell("a second before the window (01:59:59 GMT)", "2026-11-12T01:59:59Z", "preflight", 0, Outcome("out-of-window", 0, 0)),
    TimeCell("the window's first second (02:00:00 GMT)", "2026-11-12T02:00:00Z", "preflight", 0, Outcome("entered", 1, 0)),
    TimeCell("the last entry, 5 minutes before the end (05:55:00 GMT)", "2026-11-12T05:55:00Z", "preflight", 0, Outcome("entered", 1, 0)),
    TimeCell("too late to start (05:55:01 GMT, the entry margin)", "2026-11-12T05:55:01Z", "preflight", 0, Outcome("window-ending", 0, 0)),
    TimeCell("the window's end (06:00:00 GMT), holding", "2026-11-12T06:00:00Z", "guard", 1, Outcome("out-of-window", 0, 0)),
    TimeCell(
        "spring night, 00:59:59 GMT, the last second before the jump",
        "2026-03-29T00:59:59Z",
        "preflight",
        0,
        Outcome("out-of-window", 0, 0),
    ),
    TimeCell(
        "spring night, 02:00:00 BST (01:00 UTC): 01:00-02:00 never happened",
        "2026-03-29T01:00:00Z",
        "preflight",
        0,
        Outcome("entered", 1, 0),
    ),
    TimeCell("autumn night, 01:30 BST (the first 01:30)", "2026-10-25T00:30:00Z", "preflight", 0, Outcome("out-of-window", 0, 0)),
    TimeCell("autumn night, 01:30 GMT (the second 01:30)", "2026-10-25T01:30:00Z", "preflight", 0, Outcome("out-of-window", 0, 0)),
    TimeCell("autumn night, 02:00 GMT", "2026-10-25T02:00:00Z", "preflight", 0, Outcome("entered", 1, 0)),
    TimeCell(
        "a try (gate try) outside the window, 14:00 GMT",
        "2026-11-12T14:00:00Z",
        "preflight",
        0,
        Outcome("entered", 1, 0),
        {"tts.gate/try-until": "2026-11-12T14:15:00Z"},
    ),
    TimeCell(
        "the try's end (14:15:00 GMT), holding",
        "2026-11-12T14:15:00Z",
        "guard",
        1,
        Outcome("out-of-window", 0, 0),
        {"tts.gate/try-until": "2026-11-12T14:15:00Z"},
    ),
    TimeCell(
        "too late to start a try (its end 4m59s away, the entry margin)",
        "2026-11-12T14:10:01Z",
        "preflight",
        0,
        Outcome("window-ending", 0, 0),
        {"tts.gate/try-until": "2026-11-12T14:15:00Z"},
    ),
    TimeCell(
        "a try-until further ahead than a try lasts (a clock 2 h ahead): ignored",
        "2026-11-12T14:00:00Z",
        "preflight",
        0,
        Outcome("out-of-window", 0, 0),
        {"tts.gate/try-until": "2026-11-12T16:15:00Z"},
    ),
    TimeCell(
        "clock jumped back: a room-since in the future",
        NIGHT,
        "preflight",
        0,
        Outcome("cooling-down", 0, 0),
        {"tts.gate/yielded-at": "2026-11-12T02:00:00Z", "tts.gate/room-since": "2026-11-12T03:00:00Z"},
    ),
]


@dataclass(frozen=True)
class Attack:
    """A way a peer can misbehave, what the gate guarantees against it, and the test that shows it."""

    attack: str
    guarantee: str
    bound: str  # holding the card, when it is back at the latest (chart defaults: interval 10 s, timeout 5 s)
    tests: tuple[str, ...]  # "module.py::test_name", each must exist


# The bounds, at the chart's defaults (controller and sidecar interval 10 s, timeout 5 s):
# - a fetch: the timeout (5 s), a Prometheus read's three queries included; an iteration's reads
#   (source, device source, demand probe) at most 3 timeouts;
# - an API call: 2 attempts of one timeout each and at most a 5 s Retry-After between them (15 s);
# - the loop, holding, after its metrics fail in any way: the next iteration, one interval, plus
#   its reads and one scale call: 10 + 15 + 15 = 40 s at worst, 10 + 5 s for one slow exporter;
# - the watchdog: 2 intervals + the timeout without a decision (25 s), one check (1 s), then its
#   read of the Deployment and its scale-down (two calls; an unreadable Deployment is presumed held);
# - a CronJob's one-shot guard: GATE_DEADLINE (half the Job's activeDeadlineSeconds: 60 s).
LOOP = "controller and sidecar: the next iteration, 15 s (25 s with every read slow, 40 s if the API retries too)"
WATCHDOG = "watchdog: 2 intervals + timeout without a decision (25 s) + its read and its scale-down (two calls)"
ONE_SHOT = "guard CronJob: its own run, or GATE_DEADLINE (60 s)"
ATTACKS = [
    Attack(
        "exporter trickles its body or headers a byte at a time, or is silent after connecting",
        "each fetch ends at its deadline and the gate is blind: holding, it yields; nothing exits 1",
        f"{LOOP}; {ONE_SHOT}",
        (
            "test_failclosed.py::test_a_trickling_peer_cannot_hold_a_fetch_past_its_deadline",
            "test_failclosed.py::test_a_trickling_exporter_makes_every_guard_yield",
            "test_failclosed.py::test_prometheus_three_queries_share_one_deadline",
            "test_failclosed.py::test_a_trickling_demand_probe_is_no_action_within_its_deadline",
        ),
    ),
    Attack(
        "a sample stamped with an impossible time (year 3 million)",
        "blind with a one-line reason; holding, it yields",
        f"{LOOP}; {ONE_SHOT}",
        ("test_failclosed.py::test_an_impossible_timestamp_is_blindness_not_a_crash",),
    ),
    Attack(
        "any exception inside a source, or inside an iteration",
        "a source's is blindness (one line, exit 3 one-shot); an iteration's is read as blind: the card goes back and the loop goes on",
        f"{LOOP}",
        (
            "test_failclosed.py::test_a_source_that_raises_anything_is_blindness",
            "test_failclosed.py::test_an_iteration_that_fails_unexpectedly_gives_the_card_back_and_the_loop_goes_on",
        ),
    ),
    Attack(
        "the loop stops deciding (a call or a read that hangs past every deadline)",
        "the watchdog, sharing nothing with the read path, scales to 0 with its own API client, records the yield and an Event",
        WATCHDOG,
        ("test_failclosed.py::test_the_watchdog_gives_the_card_back_when_the_loop_stops_deciding",),
    ),
    Attack(
        "a CronJob guard's run that cannot decide (a Lease read that takes 10 s)",
        "at GATE_DEADLINE it gives the card back through its own client and exits 3, before the Job is killed",
        ONE_SHOT,
        ("test_failclosed.py::test_a_one_shot_guard_gives_the_card_back_before_its_job_deadline",),
    ),
    Attack(
        "the API server resets the connection part-way through an answer, breaks its chunks, cuts a body short, trickles",
        "every transport failure is 'API unavailable' (exit 4 one-shot, logged by the loops), retried once; each attempt has "
        "one deadline; a scale whose answer was lost was still carried out, and its state is consistent (see the API table)",
        "a call gives up within 2 timeouts + 5 s (15 s); the watchdog scales down as soon as one call gets through",
        (
            "test_kube.py::test_an_answer_broken_part_way_is_api_unavailable_after_the_bounded_retry",
            "test_kube.py::test_a_trickling_api_server_cannot_hold_a_call_past_its_deadline",
            "test_faults.py::test_api_faults",
        ),
    ),
    Attack(
        "Retry-After that is negative, NaN, infinite, huge, a word or a date",
        "a bounded wait: invalid is the default 0.5 s pause, over 5 s is not waited for",
        "as any API call: 15 s",
        ("test_kube.py::test_any_retry_after_is_a_bounded_wait", "test_kube.py::test_retry_after_values"),
    ),
    Attack(
        "a 2xx answer that is not the object asked for (null, a list, another kind), or over 4 MiB",
        "an API error (unavailable), never a crash",
        "as any API call: 15 s",
        ("test_kube.py::test_a_2xx_that_is_not_the_object_asked_for_is_an_api_error", "test_kube.py::test_an_oversized_body_is_refused"),
    ),
    Attack(
        "idle or trickling clients on the metrics port (/metrics, /healthz)",
        "each connection lives at most 5 s, at most 16 at once; an idle one makes room for a new one, so /healthz always answers",
        "not a give-back: the loop and its liveness probe are never starved",
        (
            "test_serve.py::test_idle_connections_above_the_cap_neither_starve_healthz_nor_grow_threads",
            "test_serve.py::test_an_idle_connection_is_closed_after_the_timeout",
            "test_serve.py::test_a_trickled_request_is_cut_off",
        ),
    ),
    Attack(
        "two 409s on every Lease write, under a resident swinging across the floor at every scrape",
        "an entry's intent is written before it scales (a lost race decides again); a yield's record is merged until it lands",
        "at most one entry per cool-down (one in the test's 60 ticks; the previous release: 28)",
        (
            "test_failclosed.py::test_a_swinging_resident_with_two_conflicts_per_write_gets_one_entry",
            "test_failclosed.py::test_a_controller_retry_never_undoes_a_fresh_yield_by_another_writer",
            "test_failclosed.py::test_of_two_yields_the_later_stands",
            "test_failclosed.py::test_of_two_counts_the_larger_stands",
        ),
    ),
    Attack(
        "a Prometheus answer with `warnings` (a store that did not answer), marked partial (`isPartial`), or not a vector",
        "blind with a one-line reason (it may miss series, which would read as memory nobody holds); holding, it yields",
        f"{LOOP}; {ONE_SHOT}",
        (
            "test_sources.py::test_a_prometheus_answer_that_may_be_partial_is_blind",
            "test_sources.py::test_a_prometheus_answer_that_is_not_a_vector_is_blind",
        ),
    ),
    Attack(
        "an exporter answer just under the 4 MiB cap that takes seconds of CPU to parse (2 to 3.5 s here for the worst "
        "lines, 10 to 17 s under the chart's 200m CPU limit)",
        "parsing is part of the read: only the families read are parsed, a line over 16 KiB is refused, the rest in 32 KiB "
        "pieces with the read's deadline checked between them: past it the read is blind",
        "the read's deadline plus the longest stretch between two looks at it: 0.35 s under 200m (`make bench`); then as "
        "any blind read: " + LOOP,
        (
            "test_sources.py::test_a_parse_that_runs_past_the_reads_deadline_is_blind",
            "test_sources.py::test_a_series_line_no_exporter_writes_is_refused_before_parsing",
        ),
    ),
    Attack(
        "a DaemonSet exporter's Service answering from the other GPU node (round robin), or a card missing from its node's answer",
        "the exporter is read at its pod on the card's node (EndpointSlices); an answer with other cards' series but none "
        "for the watched card is blind, never another card's figures",
        f"{LOOP}; {ONE_SHOT}",
        (
            "test_cards.py::test_dcgm_through_a_round_robin_service_is_blind_when_the_other_node_answers",
            "test_cards.py::test_dcgm_through_its_service_name_reads_the_nodes_pod_every_time",
            "test_cards.py::test_a_card_missing_from_its_nodes_answer_is_blind_not_idle",
        ),
    ),
    Attack(
        "a settings file refused at start: a typo (`flor: 6GiB`), a value that means nothing, a key of a newer chart, a "
        "document for a newer gate",
        "who and where (namespace, Deployment, API) never come from the file: down and guard give the card back, the loops "
        "start blind and yield, re-reading the file every interval; exit 2, one line naming the file and every problem; "
        "only preflight (and status, check) simply refuse",
        "guard CronJob, down: their own run; controller and sidecar: their first iteration, at start",
        ("test_faults.py::test_a_refused_settings_file_at_start",),
    ),
    Attack(
        "a settings file that is empty, cut short, edited by hand since it was sealed, or not the gate's own",
        "refused before it is parsed: the chart renders a header (`apiVersion: tts.gate/v1`) and a seal (sha256 of every "
        "byte above it) last, which the gate checks; never read as the defaults",
        "as any refused file (above)",
        (
            "test_faults.py::test_a_refused_settings_file_at_start",
            "test_settings_document.py::test_the_seal_the_chart_renders_is_the_one_the_gate_computes",
        ),
    ),
    Attack(
        "an unbounded settings file: /dev/zero behind the path, 2 MiB, a 339-byte YAML alias bomb, nesting 60,000 deep, "
        "a huge value quoted in a refusal",
        "reading stops at 128 KiB + 1 byte; anchors and aliases, more than 8 levels or 512 values are refused as they are "
        "met; a refusal quotes at most 60 characters of a value; a reload never raises: the loop keeps the settings in use",
        "a read and parse of at most 128 KiB + 1 byte (`make bench` times the worst files, target under 5 s); the loop's "
        "and the watchdog's bounds hold",
        (
            "test_faults.py::test_a_refused_settings_file_under_a_running_loop",
            "test_config.py::test_a_reload_that_meets_any_surprise_refuses_the_file_and_never_raises",
            "test_settings_document.py::test_a_refusal_never_quotes_an_unbounded_value",
        ),
    ),
    Attack(
        "a duration or size past what the runtime honours (`controller.interval: 9999999999s`: the wait overflowed)",
        "every size and duration has a bound in the table; its pattern (digits per unit) is refused by `check-config`, at "
        "start and at render by the schema generated from the table",
        "refused: the value is never used",
        (
            "test_settings_document.py::test_every_size_and_duration_has_a_bound_the_runtime_honours",
            "test_settings_document.py::test_a_9999999999s_interval_is_refused_by_check_config_and_at_render",
        ),
    ),
    Attack(
        "SIGKILL between the scale and the state write",
        "a yield scales first: unrecorded, it still reads as a yield (the Deployment's generation moved past the entry's); "
        "an entry writes its intent first: unexecuted, it is ignored. No later decision changes",
        "the scale-down is the first write: the card is back before the kill matters",
        (
            "test_failclosed.py::test_a_kill_between_a_yield_and_its_record_changes_no_later_decision",
            "test_failclosed.py::test_a_kill_between_an_entrys_intent_and_its_scale_leaves_a_harmless_intent",
            "test_failclosed.py::test_an_unrecorded_yield_reads_as_a_yield_only_once_the_deployment_moved",
        ),
    ),
    Attack(
        "a pause annotation the gate cannot read (tts.gate/paused: on, paused, empty)",
        "read as a pause (a pause ignored would keep taking the card): nothing takes the card, holding it gives it back; "
        "gate status and a Warning Event name the value; true/yes/1 and false/no/0 (any case) are read as written",
        f"{LOOP}; {ONE_SHOT}",
        (
            "test_pause.py::test_an_unreadable_value_pauses_and_status_and_the_event_say_why",
            "test_pause.py::test_the_controller_records_one_warning_event_for_an_unreadable_pause",
        ),
    ),
    Attack(
        "a try (tts.gate/try-until) the gate cannot read, or further ahead than a try lasts (a typo, a writer's clock "
        "hours ahead, a value past 9999 in UTC)",
        "ignored, the residents' side: only a readable end within 1 h (and 5 min for clocks) opens the window, and only "
        "the window: room, the floor, blindness, a pause, the cool-down and the over-budget bar still decide; gate status "
        "and a Warning Event name the value; window-down removes it",
        "not taken: the window stays shut",
        (
            "test_try.py::test_a_try_it_cannot_honour_is_ignored_and_the_status_and_a_warning_say_why",
            "test_policy.py::test_a_try_until_that_is_unreadable_or_too_far_ahead_is_ignored",
            "test_policy.py::test_a_try_opens_the_window_and_nothing_else",
        ),
    ),
]

ATTACKS += [
    Attack(
        "the gate's Lease deleted between a run's read and its yield's record (the record's PUT meets 404); then the "
        "server scaled back to 1 by hand with a resident awake",
        "the record creates the Lease again (the Role allows create); a record that still cannot be written is tried once "
        "more at the next iteration, then dropped (it reads as a yield): the loop never stops deciding. The watchdog reads "
        "the Deployment's replicas through its own client: a card held while the loop cannot decide is given back",
        f"{LOOP}; {WATCHDOG}",
        (
            "test_failclosed.py::test_a_lease_deleted_before_a_yields_record_is_created_again_and_the_loop_goes_on_deciding",
            "test_failclosed.py::test_the_watchdog_reads_the_card_held_while_the_loop_cannot_decide",
            "test_controller.py::test_a_lease_deleted_since_it_was_read_is_created_again_by_the_write",
        ),
    ),
    Attack(
        "the watchdog's scale-down fails (503) while the loop's entry, decided before it stepped in, is in flight",
        "when the watchdog steps in it vetoes every entry decided before, for good, and every entry until its give-back "
        "has succeeded, the Deployment reads 0 or a fresh iteration has decided; an entry's scale-up and the veto exclude "
        "each other, so no give-back lands before an entry decided earlier",
        "not taken: the vetoed entry is never made",
        (
            "test_failclosed.py::test_an_entry_in_flight_is_vetoed_when_the_watchdogs_give_back_fails",
            "test_cycle.py::test_the_watchdogs_veto_is_asked_just_before_an_entry_and_holds",
        ),
    ),
    Attack(
        "the wall clock jumps (+1 h) a second into a cool-down; a stored time in the future",
        "the loops compare their wall clock with their monotonic clock at every iteration: a jump beyond one interval "
        "(at least 1 s) restarts the cool-down and the idle timer as a wake would, and a hold across it counts as short; "
        "a stored time in the future restarts its timer too (docs/design.md, Time)",
        "not taken before the cool-down has run on the monotonic clock",
        (
            "test_failclosed.py::test_a_wall_clock_jump_mid_cool_down_restarts_it",
            "test_cycle.py::test_the_clock_check_finds_a_jump_beyond_the_interval_only",
            "test_policy.py::test_a_clock_jump_restarts_the_cool_down_and_the_idle_timer",
        ),
    ),
]

# -- parking -------------------------------------------------------------------------------------------

PARK_COMMANDS = ("run", "guard --watch")


# The server's pod as the exporter lists it (a ReplicaSet pod of the Deployment), at these MiB.
def _own(mib: int) -> str:
    return _process("tts", "chatterbox-tts-6b7c9d8f5-h4j7k", 5502, mib)


# A wake: residents at 9840 MiB leave 5520 MiB, under the 6 GiB floor but room for the parked
# residue (park.residue 1536MiB) and the floor's headroom above ownPeak (1.5 GiB). The server at its peak.
WAKE = HEADER + STEADY + IMMICH_ML_AWAKE + _own(4608)
PARKED_TWO_MINUTES = {
    **ENTERED_A_MINUTE_AGO,
    "tts.gate/entered-at": "2026-11-12T02:20:00Z",
    "tts.gate/parked-at": "2026-11-12T02:28:00Z",
    "tts.gate/yielded-at": "2026-11-12T02:28:00Z",
    "tts.gate/yield-streak": "1",
    "tts.gate/parks": "1",
}
# Serving for ten minutes: past the start-up grace, the model loaded.
SERVING_TEN_MINUTES = {**ENTERED_A_MINUTE_AGO, "tts.gate/entered-at": "2026-11-12T02:20:00Z"}
# The bound on giving the card back, at the defaults (park.timeout 15 s, interval 10 s).
PARK_BOUND = "park.timeout + 1 s for the answer, then one scale call: 16 s; the iteration that saw the wake began at most 10 s earlier"
PARKED_BOUND = "the next iteration (10 s) and one state read (5 s), then one scale call"


@dataclass(frozen=True)
class ParkFault:
    """A fault of the server's control port or of a parked server, as the loops that park meet it
    (park.enabled, the control port's double, park.timeout 0.5 s), and what each must do."""

    name: str
    arrange: Callable[[Any], None]  # configures the control port's double
    reading: str  # the exporter's answer
    annotations: dict[str, str]  # the gate's Lease
    expected: dict[str, Outcome]  # by command
    cause: str  # what the loop's log names
    bound: str
    url: str | None = None  # a control URL other than the double's (connection refused)
    sidecar_cause: str | None = None  # what the sidecar's log names, where it differs


def _phase(name: str) -> Callable[[Any], None]:
    def arrange(port: Any) -> None:
        from tts_layer.states import Phase

        port.set_phase(Phase(name))

    return arrange


FAILED_TO_ZERO = {"run": Outcome("park-failed", 0, 0), "guard --watch": Outcome("park-failed", 0, 0)}
PARK_FAULTS = [
    ParkFault(
        "a wake the card holds the residue for (no fault)",
        lambda port: None,
        WAKE,
        SERVING_TEN_MINUTES,
        {"run": Outcome("parked", 1, 0), "guard --watch": Outcome("parked", 1, 0)},
        "parking the server",
        "parked within the park's answer: residents get all but the residue",
    ),
    ParkFault(
        "park hangs", lambda port: port.hang.add("park"), WAKE, SERVING_TEN_MINUTES, FAILED_TO_ZERO, "passed its deadline (504", PARK_BOUND
    ),
    ParkFault(
        "park fails (500)", lambda port: port.fail.add("park"), WAKE, SERVING_TEN_MINUTES, FAILED_TO_ZERO, "it failed (500", PARK_BOUND
    ),
    ParkFault(
        "park answered after its deadline (the server parked, too late)",
        lambda port: setattr(port, "answer_delay", 2.0),
        WAKE,
        SERVING_TEN_MINUTES,
        FAILED_TO_ZERO,
        "within 1.5s",
        PARK_BOUND,
    ),
    ParkFault(
        "the control connection cut mid-answer",
        lambda port: setattr(port, "cut_answer", True),
        WAKE,
        SERVING_TEN_MINUTES,
        FAILED_TO_ZERO,
        "the control port",
        PARK_BOUND,
    ),
    ParkFault(
        "the control port refuses: 401 (another token)",
        lambda port: setattr(port, "token", "rotated-elsewhere"),
        WAKE,
        SERVING_TEN_MINUTES,
        FAILED_TO_ZERO,
        "the token was refused (401)",
        PARK_BOUND,
    ),
    ParkFault(
        "the control port refuses: 409 (an unpark under way)",
        _phase("unparking"),
        WAKE,
        SERVING_TEN_MINUTES,
        FAILED_TO_ZERO,
        "refused (409",
        PARK_BOUND,
    ),
    ParkFault(
        "the control port refuses connections",
        lambda port: None,
        WAKE,
        SERVING_TEN_MINUTES,
        FAILED_TO_ZERO,
        "connection refused",
        PARK_BOUND,
        url="http://127.0.0.1:9",
    ),
    ParkFault(
        "the server reports failed while parked",
        _phase("failed"),
        HEADER + STEADY + IMMICH_ML_AWAKE + _own(1024),
        PARKED_TWO_MINUTES,
        FAILED_TO_ZERO,
        "the server says failed",
        PARKED_BOUND,
    ),
    ParkFault(
        "the server restarted while parked (it says serving)",
        lambda port: None,
        HEADER + STEADY + IMMICH_ML_AWAKE + _own(1024),
        PARKED_TWO_MINUTES,
        FAILED_TO_ZERO,
        "the server says serving",
        PARKED_BOUND,
    ),
    ParkFault(
        "the residue grows past its setting (2 GiB measured, park.residue 1536MiB)",
        _phase("parked"),
        HEADER + STEADY + IMMICH_ML_AWAKE + _own(2048),
        PARKED_TWO_MINUTES,
        {"run": Outcome("residue", 0, 0), "guard --watch": Outcome("residue", 0, 0)},
        "more than park.residue",
        "the park's settling (gate.maxAge, 60 s) and the next iteration, then one scale call",
    ),
    ParkFault(
        "unpark hangs",
        lambda port: (_phase("parked")(port), port.hang.add("unpark")),
        HEADER + STEADY + _own(1024),
        {**PARKED_TWO_MINUTES, "tts.gate/room-since": "2026-11-12T02:29:00Z"},
        # The sidecar never unparks: room to serve is the controller's to use.
        {"run": Outcome("park-failed", 0, 0), "guard --watch": Outcome("still-parked", 1, 0)},
        "passed its deadline (504",
        PARK_BOUND,
        sidecar_cause="the controller unparks it",
    ),
]

ATTACKS += [
    Attack(
        "the control port answers a park after its deadline, or cuts its answer mid-body; the watchdog gives the card "
        "back while a park is in flight",
        "a park or an unpark not confirmed within park.timeout + 1 s is a failure: the server is scaled to 0 (one that "
        "parked meanwhile goes with its pod); a park that lands after the watchdog's scale to 0 is recorded, but with 0 "
        "replicas a park means nothing: no unpark follows, and no re-entry before the cool-down",
        PARK_BOUND,
        (
            "test_server_control.py::test_a_park_answered_after_its_deadline_fails_within_the_bound_though_the_server_parked",
            "test_server_control.py::test_a_control_answer_cut_mid_body_or_a_closed_port_is_a_failure_and_state_unreadable",
            "test_faults.py::test_park_faults",
            "test_parking.py::test_a_park_during_the_watchdogs_give_back_ends_with_the_card_back_and_nothing_parked",
        ),
    ),
]

# -- the settings file ------------------------------------------------------------------------------

# The classic "billion laughs": 339 bytes that expand to 9^9 strings (it fits a ConfigMap).
ALIAS_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{x}: &{x} [{','.join(['*' + y] * 9)}]\n" for y, x in zip("abcdefgh", "bcdefghi", strict=True)
)


@dataclass(frozen=True)
class SettingsFault:
    """A settings file (GATE_CONFIG) as a command finds it at start, and the words the one line
    that refuses it must hold (all of them, on one line)."""

    name: str
    content: Callable[[], bytes] | None  # the file's bytes; None: see `path`
    causes: tuple[str, ...]
    path: str | None = None  # a path of its own (a device, a file that does not exist)


def _sealed(body: str) -> Callable[[], bytes]:
    from gatedoc import sealed

    return lambda: sealed(body).encode()


def _raw(text: str | bytes) -> Callable[[], bytes]:
    return lambda: text if isinstance(text, bytes) else text.encode()


def _sealed_as_is(text: str) -> Callable[[], bytes]:
    """`text` with a right seal and no header added."""
    import hashlib

    return lambda: f"{text}# sha256:{hashlib.sha256(text.encode()).hexdigest()}\n".encode()


def _defaults_cut(lines: int) -> Callable[[], bytes]:
    """The chart's default gate.yaml with its last `lines` lines lost."""
    return lambda: ("".join(_rendered().splitlines(keepends=True)[:-lines])).encode()


def _defaults_edited() -> bytes:
    return _rendered().replace("floor: 6GiB", "floor: 4GiB").encode()


def _rendered() -> str:
    from helm import documents, one, render

    return one(documents(render({})), "ConfigMap", "tts-gate-config")["data"]["gate.yaml"]


SETTINGS_FAULTS = [
    SettingsFault("an unknown key (`flor: 6GiB`, a typo)", _sealed("flor: 6GiB\n"), ("flor: unknown setting", "did you mean floor?")),
    SettingsFault("a value that means nothing (`floor: banana`)", _sealed("floor: banana\n"), ("floor: invalid size 'banana'",)),
    SettingsFault("a YAML alias bomb (339 bytes, 9^9 strings)", _sealed(ALIAS_BOMB), ("anchors and aliases",)),
    SettingsFault(
        "a key of a newer chart (`parking.enabled`)", _sealed("parking:\n  enabled: true\n"), ("parking.enabled: unknown setting",)
    ),
    SettingsFault(
        "a document for a newer gate (`apiVersion: tts.gate/v2`)",
        _sealed_as_is("apiVersion: tts.gate/v2\nfloor: 6GiB\n"),
        ("written for another gate", "tts.gate/v2"),
    ),
    SettingsFault(
        "three bad values at once (`floor: 6.5`, `total: 16GB`, `window: 00:00-24:00`)",
        _sealed("floor: 6.5\ntotal: 16GB\nwindow: 00:00-24:00\n"),
        ('write floor: "6656MiB"', 'write total: "16GiB"', 'write window: ""'),
    ),
    SettingsFault(
        "a bound passed (`controller.interval: 9999999999s`)",
        _sealed("controller:\n  interval: 9999999999s\n"),
        ("controller.interval", "meant for up to 1h", 'write controller.interval: "1h"'),
    ),
    SettingsFault("an empty file", _raw(""), ("empty",)),
    SettingsFault("cut short: the chart's file without its last line", _defaults_cut(1), ("no seal on its last line",)),
    SettingsFault("cut short: the chart's file without its last 3 lines", _defaults_cut(3), ("no seal on its last line",)),
    SettingsFault("edited since it was sealed (the chart's file, floor changed)", _defaults_edited, ("seal does not match",)),
    SettingsFault("hand-written, never sealed", _raw("floor: 6GiB\n"), ("no seal", "gate check-config --seal FILE")),
    SettingsFault("not the gate's own (sealed, no header)", _sealed_as_is("kind: ConfigMap\n"), ("not the gate's settings",)),
    SettingsFault("nested 60,000 deep", _sealed("x: " + "[" * 60_000 + "]" * 60_000 + "\n"), ("nested deeper than 8",)),
    SettingsFault("larger than any settings document (2 MiB)", _sealed("# " + "x" * 2**21 + "\n"), ("larger than 128 KiB",)),
    SettingsFault("/dev/zero behind the path", None, ("larger than 128 KiB",), path="/dev/zero"),
    SettingsFault("not UTF-8", _raw(b"apiVersion: tts.gate/v1\nfloor: \xff\xfe\n"), ("not UTF-8",)),
    SettingsFault("no file at the path", None, ("cannot read the settings file", "No such file"), path="missing"),
]

SETTINGS_COMMANDS = ("preflight", "guard", "guard --watch", "run", "down", "status")
SETTINGS_BOUND = "guard, down: their own run; the loops: their first iteration, at start"


def settings_expectation(command: str) -> Outcome:
    """Every refused file, every command: preflight and status refuse before any call; the
    others give the card back blind (down as always) and exit 2, their one line naming the file."""
    return {
        "preflight": Outcome("-", 0, 2),
        "guard": Outcome("blind", 0, 2),
        "guard --watch": Outcome("blind", 0, 2),
        "run": Outcome("blind", 0, 2),
        "down": Outcome("window-end", 0, 2),
        "status": Outcome("-", 0, 2),
    }[command]


SIGNAL_CELLS = [
    ("guard --watch", "SIGTERM while a scale-down is in flight", Outcome("no-room", 0, 0)),
]


def render() -> str:
    lines = [
        "# The fault matrix",
        "",
        "Every fault the gate can meet, per command, and what comes of it: the decision, the",
        "replicas the Kubernetes API double ends with, and the exit status. Generated from the",
        "parameters of `tests/test_faults.py` by `python tests/faults.py > docs/faults.md`; a test",
        "fails when this file and the tests disagree. Every failing cell prints one line naming its",
        "cause, and no cell prints the API token.",
        "",
        "Starting points: preflight and status at 0 replicas inside the window (02:30 GMT) with a",
        "card that has room; guard, guard --watch and down holding the card (1 replica).",
        "The source is the owner's gpu-pod-exporter; rows naming a device add dcgm-exporter beside it",
        "(GATE_DEVICE_SOURCE=dcgm). The start-up rows hold the card with the entry recorded in the",
        "gate's Lease (`tts.gate/entered-at`): a preflight at 0 replicas counts the same `unknown`",
        "memory as a resident's, the guard that entered a minute ago as the server's own.",
        "Exit statuses: 0 done, 2 bad input, 3 blind, 4 API unavailable, 5 denied, 6 not found, 7 rejected.",
        "",
        "## The exporter",
        "",
        "| fault | " + " | ".join(COMMANDS) + " |",
        "|---|" + "---|" * len(COMMANDS),
    ]
    for fault in EXPORTER_FAULTS:
        cells = [str(exporter_expectation(command, fault.kind)) for command in COMMANDS]
        lines.append(f"| {fault.name} | " + " | ".join(cells) + " |")
    lines += ["", "## The Kubernetes API", "", "| fault | " + " | ".join(COMMANDS) + " |", "|---|" + "---|" * len(COMMANDS)]
    for fault in API_FAULTS:
        cells = [str(api_expectation(command, fault)) for command in COMMANDS]
        lines.append(f"| {fault.name} | " + " | ".join(cells) + " |")
    lines += ["", "## Time", "", "| when | command | outcome |", "|---|---|---|"]
    for cell in TIME_CELLS:
        lines.append(f"| {cell.name} | {cell.command} | {cell.expected} |")
    lines += [
        "",
        "## Attacks",
        "",
        "A slow or odd peer, a lost race, a kill at the worst moment: what the gate guarantees and the",
        "bound on giving the card back while it holds it, at the chart's defaults (interval 10 s,",
        "timeout 5 s; the derivation is in tests/faults.py). No row ends in exit 1.",
        "",
        "| attack | guarantee | card back within | tested by |",
        "|---|---|---|---|",
    ]
    for attack in ATTACKS:
        tests = "<br>".join(f"`{test.split('::')[1]}`" for test in attack.tests)
        lines.append(f"| {attack.attack} | {attack.guarantee} | {attack.bound} | {tests} |")
    lines += [
        "",
        "## Parking",
        "",
        "The loops that park (`gate.park.enabled`), against the control port's double",
        "(tests/controlport.py, which answers as docker/tts_layer's does) with park.timeout 0.5 s,",
        "holding the card inside the window: a wake (residents 9840 MiB of a T4's 15360 MiB, room for",
        "the parked residue but not to serve) for a server ten minutes in, or a server parked two",
        "minutes ago. Each fault ends with the server scaled to 0; the sidecar never unparks. The",
        "bound is at the defaults (park.timeout 15 s, interval 10 s, timeout 5 s).",
        "",
        "| fault | " + " | ".join(PARK_COMMANDS) + " | card back within |",
        "|---|" + "---|" * len(PARK_COMMANDS) + "---|",
    ]
    for park_fault in PARK_FAULTS:
        cells = [str(park_fault.expected[command]) for command in PARK_COMMANDS]
        lines.append(f"| {park_fault.name} | " + " | ".join(cells) + f" | {park_fault.bound} |")
    lines += [
        "",
        "## The settings file",
        "",
        "A settings file (GATE_CONFIG) each command finds refused at start: preflight and status",
        "refuse before any call; guard, the loops and down give the card back blind (the defaults",
        "under the command line's settings, a source that reads nothing) and still exit 2, one line",
        "naming the file and each problem. The loops re-read the file every interval and take it",
        "once it passes. Who and where (namespace, Deployment, API) never come from the file.",
        f"Card back within: {SETTINGS_BOUND}.",
        "",
        "| file | " + " | ".join(SETTINGS_COMMANDS) + " |",
        "|---|" + "---|" * len(SETTINGS_COMMANDS),
    ]
    for settings_fault in SETTINGS_FAULTS:
        cells = [str(settings_expectation(command)) for command in SETTINGS_COMMANDS]
        lines.append(f"| {settings_fault.name} | " + " | ".join(cells) + " |")
    lines += ["", "## Signals", "", "| command | signal | outcome |", "|---|---|---|"]
    for command, name, expected in SIGNAL_CELLS:
        lines.append(f"| {command} | {name} | {expected} (the scale-down finishes, then the loop stops) |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
