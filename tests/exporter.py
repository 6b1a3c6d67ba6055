"""A loopback exporter: serves exposition text (or JSON for the Prometheus API, or the TTS
server's endpoints) as told.

It answers like the real exporters (status 200, `text/plain; version=0.0.4; charset=utf-8`)
and can misbehave on demand: another status, a delay before answering, a body that trickles
(in pieces of any size, down to a byte), headers that trickle, a connection closed without an
answer, and answers that change from one request to the next (`cycle`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

from loopback import LoopbackHandler, LoopbackServer

FIXTURES = Path(__file__).parent / "fixtures"
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass
class Answer:
    body: bytes = b""
    status: int = 200
    content_type: str = TEXT_FORMAT
    delay_seconds: float = 0.0
    trickle_seconds: float = 0.0  # pause between `piece`-sized pieces of the body
    piece: int = 1024
    header_trickle_seconds: float = 0.0  # pause between the bytes of the status line and headers
    drop: bool = False


@dataclass
class FakeExporter(LoopbackServer):
    url_path = "/metrics"  # `url`: where the exporters serve; `base_url` for the other paths
    answers: dict[str, Answer] = field(default_factory=dict)  # by path; "/metrics" by default
    queries: list[str] = field(default_factory=list)  # Prometheus `query` parameters seen
    by_query: dict[str, Answer] = field(default_factory=dict)
    posted: list[bytes] = field(default_factory=list)  # bodies of POSTs (the TTS server's speech requests)
    # Answers served in turn, one per request, round and round (a resident that swings).
    cycle: dict[str, list[Answer]] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)

    def serve(self, body: bytes | str, path: str = "/metrics", **kwargs: Any) -> None:
        self.answers[path] = Answer(body.encode() if isinstance(body, str) else body, **kwargs)

    def __post_init__(self) -> None:
        exporter = self

        class Handler(LoopbackHandler):
            def do_POST(self) -> None:
                exporter.posted.append(self.read_body())
                self.do_GET()

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query).get("query", [None])[0]
                if query is not None:
                    exporter.queries.append(query)
                answer = exporter.by_query.get(query or "") or exporter.answers.get(parts.path)
                if parts.path in exporter.cycle:
                    turn = exporter.served.get(parts.path, 0)
                    exporter.served[parts.path] = turn + 1
                    answer = exporter.cycle[parts.path][turn % len(exporter.cycle[parts.path])]
                if answer is None:
                    answer = Answer(b"404 page not found\n", status=404)
                if answer.delay_seconds:
                    time.sleep(answer.delay_seconds)
                if answer.drop:
                    self.drop()
                    return
                if answer.header_trickle_seconds:
                    headers = [("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body)))]
                    self.trickle(self.raw_head(answer.status, headers, phrase="OK"), answer.header_trickle_seconds)
                else:
                    self.send_head(answer.status, answer.content_type, len(answer.body))
                if answer.trickle_seconds:
                    self.trickle(answer.body, answer.trickle_seconds, answer.piece)
                else:
                    self.wfile.write(answer.body)

        self.listen(Handler)


# -- the exporters' answers, label for label --------------------------------------------------------
#
# Read from each exporter's source (upstream-facts.md summarises them); the tests build answers for
# any cluster shape (several nodes, several cards a node) from these, never by hand.


@dataclass(frozen=True)
class Gpu:
    """One card as the exporters see it: its node, index, UUID (as nvidia-smi writes it) and MiB."""

    node: str
    index: int
    uuid: str
    used_mib: int
    reserved_mib: int = 449
    total_mib: int = 15360
    model: str = "Tesla T4"
    processes: int = 0  # compute processes on it (nvidia_gpu_exporter's --collect.compute-apps)

    @property
    def free_mib(self) -> int:
        return self.total_mib - self.used_mib - self.reserved_mib

    @property
    def bus_id(self) -> str:
        return f"00000000:{0x37 + self.index:02X}:00.0"


def two_nodes_two_cards(used: dict[tuple[str, int], int] | None = None) -> list[Gpu]:
    """node-a and node-b with two T4s each; `used` MiB by (node, index), 4,600 MiB otherwise."""
    cards = []
    for n, node in enumerate(("node-a", "node-b")):
        for index in (0, 1):
            uuid = f"GPU-{n}{index}5c0ac5-74d7-3130-46f1-e93ed57f46{n}{index}"
            cards.append(Gpu(node, index, uuid, (used or {}).get((node, index), 4600)))
    return cards


def go_float(value: float) -> str:
    """A number as client_golang writes it: strconv's 'g' format, shortest digits, the exponent
    form when the exponent is below -4 or from 6 up (1048576 -> 1.048576e+06)."""
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    power = len(digits) + int(exponent) - 1
    if -4 <= power < 6:
        return format(Decimal(repr(float(value))).normalize(), "f")
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if power >= 0 else '-'}{abs(power):02d}"


def dcgm_answer(gpus: list[Gpu], node_label: str = "Hostname", pods: dict[str, list[tuple[str, str, str, int]]] | None = None) -> str:
    """dcgm-exporter's /metrics on one node (internal/pkg/rendermetrics): per family, one series per
    GPU, `{gpu,UUID,pci_bus_id,device,modelName,Hostname,<labels>}` then its attributes sorted
    (`container,namespace,pod,pod_uid`), values in MiB. `node_label`: `Hostname` in every release,
    `hostname` on its main branch since #655. `pods` (UUID -> [(namespace, pod, container,
    MiB)]): KUBERNETES_VIRTUAL_GPUS under time-slicing, which repeats each device series once per
    pod using the GPU (the same value), and for DCGM_FI_DEV_FB_USED keeps the device's own series and
    adds one per pod with its own use and `pod_uid` (transformation/kubernetes.go)."""
    families = (
        ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", lambda g: 585),
        ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", lambda g: g.free_mib),
        ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", lambda g: g.used_mib),
        ("DCGM_FI_DEV_FB_RESERVED", "Framebuffer memory reserved (in MiB).", lambda g: g.reserved_mib),
    )
    out = []
    for name, help_text, value in families:
        out.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")
        for g in gpus:
            base = (
                f'gpu="{g.index}",UUID="{g.uuid}",pci_bus_id="{g.bus_id}",device="nvidia{g.index}",modelName="{g.model}",'
                f'{node_label}="{g.node}",DCGM_FI_DRIVER_VERSION="570.195.03"'
            )
            users = (pods or {}).get(g.uuid, [])
            if not users or name == "DCGM_FI_DEV_FB_USED":
                out.append(f"{name}{{{base}}} {value(g)}\n")
            for n, (namespace, pod, container, mib) in enumerate(users):
                shown = mib if name == "DCGM_FI_DEV_FB_USED" else value(g)
                attrs = f'container="{container}",namespace="{namespace}",pod="{pod}"'
                if name == "DCGM_FI_DEV_FB_USED":  # a per-process figure: its pod's own, with the pod's UID
                    attrs += f',pod_uid="0b9c{n:04d}-1c2d-4e5f-8a9b-0c1d2e3f4a5b"'
                out.append(f"{name}{{{base},{attrs}}} {shown}\n")
    return "".join(out)


def nvidia_gpu_exporter_answer(gpus: list[Gpu], compute_apps: bool = True) -> str:
    """utkuozdemir/nvidia_gpu_exporter's /metrics on one node (internal/exporter): families in name
    order, every per-GPU series labelled `uuid` only, lower case without `GPU-` (NormalizeUUID),
    bytes written as client_golang writes floats; `nvidia_smi_gpu_info` with its labels in name
    order; `nvidia_smi_index{uuid}` whose value is the index. With --collect.compute-apps,
    `nvidia_smi_compute_apps{uuid}` (processes per GPU, 0 filled) and its success gauge."""

    def uuid(g: Gpu) -> str:
        return g.uuid.lower().removeprefix("gpu-")

    out = []
    if compute_apps:
        out.append("# HELP nvidia_smi_compute_apps Number of processes with a compute context on the GPU.\n")
        out.append("# TYPE nvidia_smi_compute_apps gauge\n")
        out.extend(f'nvidia_smi_compute_apps{{uuid="{uuid(g)}"}} {g.processes}\n' for g in gpus)
        out.append(
            "# HELP nvidia_smi_compute_apps_last_collect_success Whether the most recent per-process collection succeeded (1) or not (0)\n"
        )
        out.append("# TYPE nvidia_smi_compute_apps_last_collect_success gauge\nnvidia_smi_compute_apps_last_collect_success 1\n")
    out.append(
        "# HELP nvidia_smi_gpu_info A metric with a constant '1' value labeled by gpu uuid, name, driver_model_current, "
        "driver_model_pending, vbios_version, driver_version, pci_bus_id, serial, compute_cap, pci_sub_device_id, index, cuda_version.\n"
        "# TYPE nvidia_smi_gpu_info gauge\n"
    )
    for g in gpus:
        out.append(
            f'nvidia_smi_gpu_info{{compute_cap="7.5",cuda_version="12.8",driver_model_current="[N/A]",driver_model_pending="[N/A]",'
            f'driver_version="570.195.03",index="{g.index}",name="{g.model}",pci_bus_id="{g.bus_id}",pci_sub_device_id="0x12A210DE",'
            f'serial="132402001234{g.index}",uuid="{uuid(g)}",vbios_version="90.04.96.00.01"}} 1\n'
        )
    out.append("# HELP nvidia_smi_index index\n# TYPE nvidia_smi_index gauge\n")
    out.extend(f'nvidia_smi_index{{uuid="{uuid(g)}"}} {g.index}\n' for g in gpus)
    for name, value in (
        ("free", lambda g: g.free_mib),
        ("reserved", lambda g: g.reserved_mib),
        ("total", lambda g: g.total_mib),
        ("used", lambda g: g.used_mib),
    ):
        family = f"nvidia_smi_memory_{name}_bytes"
        out.append(f"# HELP {family} memory.{name} [MiB]\n# TYPE {family} gauge\n")
        out.extend(f'{family}{{uuid="{uuid(g)}"}} {go_float(value(g) * 1048576)}\n' for g in gpus)
    return "".join(out)


@dataclass
class RoundRobinService(LoopbackServer):
    """A Service's ClusterIP in front of a DaemonSet exporter, as kube-proxy makes it: each
    connection goes to the next of its pods (ipvs' round robin; iptables mode picks at random),
    the answer relayed as it came (status, Content-Type, body). `picked` lists the backend of
    each request, so a test can tell which node answered."""

    backends: list[LoopbackServer] = field(default_factory=list)
    url_path = "/metrics"
    picked: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        service = self

        class Handler(LoopbackHandler):
            def do_GET(self) -> None:
                turn = len(service.picked) % len(service.backends)
                service.picked.append(turn)
                try:
                    with urlopen(service.backends[turn].base_url + self.path, timeout=5) as answer:  # noqa: S310 (loopback)
                        status, kind, body = answer.status, answer.headers.get("Content-Type", TEXT_FORMAT), answer.read()
                except HTTPError as error:
                    status, kind, body = error.code, error.headers.get("Content-Type", TEXT_FORMAT), error.read()
                self.send_head(status, kind, len(body))
                self.wfile.write(body)

        self.listen(Handler)
