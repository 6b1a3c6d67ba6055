"""utkuozdemir/nvidia_gpu_exporter: `nvidia_smi_memory_{total,used,free}_bytes{uuid}`.

Per-process series (`--collect.compute-apps`) carry a pid and a process name but no pod, so
the gate cannot tell its own process from a resident's: everything not free counts as residents'.
"""

from __future__ import annotations

from gate.policy import DeviceReading, Reading
from gate.sources import SourceError, as_reading, exposition
from gate.sources.scrape import ScrapedSource

TOTAL = "nvidia_smi_memory_total_bytes"
FREE = "nvidia_smi_memory_free_bytes"
USED = "nvidia_smi_memory_used_bytes"  # what processes hold; total - free - used is the driver's reserve
# A GPU with less than 64 MiB is not a GPU; such a total means the figures are MiB, not bytes.
MIN_PLAUSIBLE_TOTAL = 64 * 2**20


def parse_device(body: bytes, where: str) -> DeviceReading:
    parsed = exposition.parse(body, where)
    total = parsed.device_value(TOTAL, where)
    free = parsed.device_value(FREE, where)
    if total < MIN_PLAUSIBLE_TOTAL:
        raise SourceError(f"metrics from {where}: {TOTAL} is {total:g}, expected bytes (MiB?)")
    if free > total:
        raise SourceError(f"metrics from {where}: {FREE} {free:g} exceeds {TOTAL} {total:g}")
    held = total - free
    # Older exporter releases have no used figure: then everything not free counts as used.
    used = min(parsed.device_value(USED, where), held) if USED in parsed.families else held
    return DeviceReading(
        total_bytes=int(total),
        used_bytes=int(used),
        reserved_bytes=int(held - used),
        sampled_at=exposition.sampled_at(parsed.samples.get(FREE, []), where),
    )


def parse(body: bytes, where: str) -> Reading:
    return as_reading(parse_device(body, where))


class Source(ScrapedSource):
    name = "nvidia-smi"
    provides_total = True
    parse = staticmethod(parse)
    parse_device = staticmethod(parse_device)
