"""NVIDIA dcgm-exporter: `DCGM_FI_DEV_FB_{FREE,USED,RESERVED}` gauges in MiB, one series per device.

There is no total field: total = free + used + reserved. Its pod labels say which pod was given
the device, not whose memory it is (wrong under time-slicing), so all used and reserved memory
counts as residents' — our own pod's included, which errs on the residents' side.
"""

from __future__ import annotations

from gate.policy import Reading
from gate.sources import SourceError, exposition
from gate.sources.scrape import ScrapedSource

FREE = "DCGM_FI_DEV_FB_FREE"
USED = "DCGM_FI_DEV_FB_USED"
RESERVED = "DCGM_FI_DEV_FB_RESERVED"  # absent from older dcgm-exporter releases
MIB = 2**20
# No GPU has 16 TiB of memory; a total past this means the figures are bytes, not MiB.
MAX_PLAUSIBLE_MIB = 16 * 2**20


def _device_value(parsed: exposition.Exposition, name: str, where: str, required: bool) -> float:
    if not required and name not in parsed.families:
        return 0.0
    samples = parsed.require(name, where)
    if not samples:
        raise SourceError(f"metrics from {where}: {name} has no samples (no GPU seen by dcgm)")
    if len(samples) > 1:
        # Several GPUs, or MIG instances of one: either way not the one shared card the gate watches.
        raise SourceError(f"metrics from {where}: {name} has {len(samples)} series; the gate watches one shared GPU")
    return samples[0].value


def parse(body: bytes, where: str) -> Reading:
    parsed = exposition.parse(body, where)
    free = _device_value(parsed, FREE, where, required=True)
    used = _device_value(parsed, USED, where, required=True)
    reserved = _device_value(parsed, RESERVED, where, required=False)
    total_mib = free + used + reserved
    if total_mib > MAX_PLAUSIBLE_MIB:
        raise SourceError(f"metrics from {where}: framebuffer total {total_mib:g} is not MiB (bytes?)")
    sampled_at = exposition.sampled_at(parsed.samples.get(USED, []))
    return Reading(
        pods=(),
        unattributed_bytes=int((used + reserved) * MIB),
        device_total_bytes=int(total_mib * MIB),
        sampled_at=sampled_at,
    )


class Source(ScrapedSource):
    name = "dcgm"
    provides_total = True
    parse = staticmethod(parse)
