"""NVIDIA dcgm-exporter: `DCGM_FI_DEV_FB_{FREE,USED,RESERVED}` gauges in MiB, one series per device.

There is no total field: total = free + used + reserved. Its pod labels say which pod was given
the device, not whose memory it is (wrong under time-slicing), so all used and reserved memory
counts as residents' — our own pod's included, which errs on the residents' side.

Each series names its card (`gate.sources.card`): the node in `Hostname` (`hostname` on newer
builds), the GPU in `gpu` (index) and `UUID`. Only the watched card's series count.
"""

from __future__ import annotations

from gate.formats import normalize_uuid
from gate.policy import DeviceReading
from gate.sources import ANY_CARD, Card, SourceError, exposition
from gate.sources.card import dcgm_card, is_index, one_value, watched_series
from gate.sources.exposition import Budget
from gate.sources.scrape import DeviceScrapedSource

FREE = "DCGM_FI_DEV_FB_FREE"
USED = "DCGM_FI_DEV_FB_USED"
RESERVED = "DCGM_FI_DEV_FB_RESERVED"  # absent from older dcgm-exporter releases
FAMILIES = (FREE, USED, RESERVED)
REQUIRED = (FREE, USED)
MIB = 2**20
# No GPU has 16 TiB of memory; a total past this means the figures are bytes, not MiB.
MAX_PLAUSIBLE_MIB = 16 * 2**20


def parse_device(
    body: bytes, where: str, card: Card = ANY_CARD, answered_on: str | None = None, budget: Budget | None = None
) -> DeviceReading:
    parsed = exposition.parse(body, where, FAMILIES, budget)
    parsed.require_all(REQUIRED, where)
    ours = watched_series(parsed, FAMILIES, lambda labels: dcgm_card(labels, answered_on), card, where, "dcgm-exporter", USED)
    free = one_value(ours.get(FREE, []), where, FREE)
    used = one_value(ours.get(USED, []), where, USED)
    reserved = one_value(ours.get(RESERVED, []), where, RESERVED) if RESERVED in parsed.families else 0.0
    total_mib = free + used + reserved
    if total_mib > MAX_PLAUSIBLE_MIB:
        raise SourceError(f"metrics from {where}: framebuffer total {total_mib:g} is not MiB (bytes?)")
    return DeviceReading(
        total_bytes=int(total_mib * MIB),
        used_bytes=int(used * MIB),
        reserved_bytes=int(reserved * MIB),
        sampled_at=exposition.sampled_at(ours.get(USED, []), where),
    )


class Source(DeviceScrapedSource):
    name = "dcgm"
    parse_device = staticmethod(parse_device)


parse = Source.parse  # read alone: all it sees held is unattributed


def _matchers(card: Card) -> list[str]:
    """The card's label matchers, once per spelling of the node label (`Hostname`, `hostname`)."""
    device = []
    if card.device is not None:
        device = [f'gpu="{card.device}"'] if is_index(card.device) else [f'UUID=~"(?i)(GPU-)?{normalize_uuid(card.device)}"']
    if card.node is None:
        return [",".join(device)]
    return [",".join([f'{label}="{card.node}"', *device]) for label in ("Hostname", "hostname")]


def range_queries(card: Card, node_label: str = "") -> tuple[str, str | None]:
    """PromQL for a night through Prometheus (gate measure): the bytes held on the card (used +
    reserved, as the live source counts them), one series per card (the per-pod copies folded),
    and no process count (dcgm-exporter has none per card). The node is the exporter's own label."""

    def one(family: str) -> str:
        selected = " or ".join(f"{family}{{{m}}}" if m else family for m in _matchers(card))
        return f"max by (Hostname, hostname, gpu, UUID) ({selected})"

    return f"({one(USED)} + ({one(RESERVED)} or {one(USED)} * 0)) * {MIB}", None
