"""utkuozdemir/nvidia_gpu_exporter: `nvidia_smi_memory_{total,used,free}_bytes{uuid}`.

Per-process series (`--collect.compute-apps`) carry a pid and a process name but no pod, so
the gate cannot tell its own process from a resident's: everything not free counts as residents'.
"""

from __future__ import annotations

from gate.policy import Reading
from gate.sources import SourceError, exposition
from gate.sources.scrape import ScrapedSource

TOTAL = "nvidia_smi_memory_total_bytes"
FREE = "nvidia_smi_memory_free_bytes"
# A GPU with less than 64 MiB is not a GPU; such a total means the figures are MiB, not bytes.
MIN_PLAUSIBLE_TOTAL = 64 * 2**20


def parse(body: bytes, where: str) -> Reading:
    parsed = exposition.parse(body, where)
    total = parsed.device_value(TOTAL, where)
    free = parsed.device_value(FREE, where)
    if total < MIN_PLAUSIBLE_TOTAL:
        raise SourceError(f"metrics from {where}: {TOTAL} is {total:g}, expected bytes (MiB?)")
    if free > total:
        raise SourceError(f"metrics from {where}: {FREE} {free:g} exceeds {TOTAL} {total:g}")
    sampled_at = exposition.sampled_at(parsed.samples.get(FREE, []))
    return Reading(
        pods=(),
        unattributed_bytes=int(total - free),
        device_total_bytes=int(total),
        sampled_at=sampled_at,
    )


class Source(ScrapedSource):
    name = "nvidia-smi"
    provides_total = True
    parse = staticmethod(parse)
