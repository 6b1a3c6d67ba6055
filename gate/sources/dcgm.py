"""NVIDIA dcgm-exporter: `DCGM_FI_DEV_FB_{FREE,USED,RESERVED}` gauges in MiB, one series per device.

There is no total field: total = free + used + reserved. Its pod labels say which pod was given
the device, not whose memory it is (wrong under time-slicing), so all used and reserved memory
counts as residents' — our own pod's included, which errs on the residents' side.
"""

from __future__ import annotations

from gate.policy import DeviceReading, Reading
from gate.sources import SourceError, as_reading, exposition
from gate.sources.scrape import ScrapedSource

FREE = "DCGM_FI_DEV_FB_FREE"
USED = "DCGM_FI_DEV_FB_USED"
RESERVED = "DCGM_FI_DEV_FB_RESERVED"  # absent from older dcgm-exporter releases
MIB = 2**20
# No GPU has 16 TiB of memory; a total past this means the figures are bytes, not MiB.
MAX_PLAUSIBLE_MIB = 16 * 2**20


def parse_device(body: bytes, where: str) -> DeviceReading:
    parsed = exposition.parse(body, where)
    free = parsed.device_value(FREE, where)
    used = parsed.device_value(USED, where)
    reserved = parsed.device_value(RESERVED, where) if RESERVED in parsed.families else 0.0
    total_mib = free + used + reserved
    if total_mib > MAX_PLAUSIBLE_MIB:
        raise SourceError(f"metrics from {where}: framebuffer total {total_mib:g} is not MiB (bytes?)")
    return DeviceReading(
        total_bytes=int(total_mib * MIB),
        used_bytes=int(used * MIB),
        reserved_bytes=int(reserved * MIB),
        sampled_at=exposition.sampled_at(parsed.samples.get(USED, []), where),
    )


def parse(body: bytes, where: str) -> Reading:
    return as_reading(parse_device(body, where))


class Source(ScrapedSource):
    name = "dcgm"
    provides_total = True
    parse = staticmethod(parse)
    parse_device = staticmethod(parse_device)
