"""The owner's gpu-pod-exporter: `gpu_pod_memory_used_bytes{namespace,pod,container,process_name,pid}`.

One series per GPU process (nvidia-smi compute apps, MiB x 1048576), so usage is summed by pod.
A process it cannot map carries `unknown` labels: unattributed memory (a resident's, or our own
pod's before the exporter's 60 s pod cache knows it). With no GPU process it serves the family's
HELP/TYPE and no samples, and it serves exactly that when its `nvidia-smi` fails: the reading is
marked empty, and the policy decides whether that is an idle card.

Its series name neither the node nor the GPU (ViktorBarzin/infra, stacks/nvidia): the node is
whichever DaemonSet pod answered, so with `card.node` set the gate reads the pod on that node
(gate.locate), and the GPU is the one its pod was given (`nvidia.com/gpu: 1`): on a node with
several GPUs it cannot tell them apart, and `card.device` is refused with this source.
"""

from __future__ import annotations

from gate.policy import Reading
from gate.sources import ANY_CARD, Card, SourceError, by_pod, exposition
from gate.sources.exposition import Budget
from gate.sources.scrape import ScrapedSource

METRIC = "gpu_pod_memory_used_bytes"
MIB = 2**20


def parse(body: bytes, where: str, card: Card = ANY_CARD, answered_on: str | None = None, budget: Budget | None = None) -> Reading:
    if card.device is not None:
        raise SourceError(f"metrics from {where}: gpu-pod-exporter names no GPU, so it cannot be read for device {card.device}")
    samples = exposition.parse(body, where, (METRIC,), budget).require(METRIC, where)
    for sample in samples:
        if 0 < sample.value < MIB:
            # The exporter reports whole MiB in bytes; a smaller figure is a unit mix-up.
            raise SourceError(
                f"metrics from {where}: {METRIC} value {sample.value:g} is under 1 MiB; expected bytes (is the exporter reporting MiB?)"
            )
    pods, unattributed = by_pod((sample.labels, sample.value) for sample in samples)
    sampled_at = exposition.sampled_at(samples, where)
    return Reading(
        pods=pods,
        unattributed_bytes=unattributed,
        sampled_at=sampled_at,
        empty=not samples,
    )


class Source(ScrapedSource):
    name = "gpu-pod-exporter"
    parse = staticmethod(parse)
