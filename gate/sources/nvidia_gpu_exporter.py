"""utkuozdemir/nvidia_gpu_exporter: `nvidia_smi_memory_{total,used,free}_bytes{uuid}`.

Per-process series (`--collect.compute-apps`) carry a pid and a process name but no pod, so
the gate cannot tell its own process from a resident's: everything not free counts as residents'.

Its series name the GPU by `uuid` (lower case, no `GPU-`), the index only in
`nvidia_smi_index{uuid}` and `nvidia_smi_gpu_info{index,uuid}`, and the node not at all: with
`card.node` set the gate reads the exporter's pod on that node (gate.locate), so the node that
answered is known. (This source was called `nvidia-smi`; that name still works, with a warning.)
"""

from __future__ import annotations

from gate.formats import normalize_uuid
from gate.policy import DeviceReading
from gate.sources import ANY_CARD, Card, SourceError, exposition
from gate.sources.card import DEVICE, is_index, nvidia_gpu_exporter_card, one_value, watched_series
from gate.sources.exposition import Budget
from gate.sources.scrape import DeviceScrapedSource

TOTAL = "nvidia_smi_memory_total_bytes"
FREE = "nvidia_smi_memory_free_bytes"
USED = "nvidia_smi_memory_used_bytes"  # what processes hold; total - free - used is the driver's reserve
INDEX = "nvidia_smi_index"  # its value is the GPU's index
INFO = "nvidia_smi_gpu_info"  # labelled index and uuid
# Per card, with --collect.compute-apps: how many processes hold a compute context (gate measure).
PROCESSES = "nvidia_smi_compute_apps"
FAMILIES = (TOTAL, FREE, USED, INDEX, INFO)
REQUIRED = (TOTAL, FREE)  # older releases have no USED
# A GPU with less than 64 MiB is not a GPU; such a total means the figures are MiB, not bytes.
MIN_PLAUSIBLE_TOTAL = 64 * 2**20


def indices(parsed: exposition.Exposition) -> dict[str, str]:
    """uuid (normalized) -> index, from the two families that tell it."""
    found = {}
    for sample in parsed.samples.get(INDEX, []):
        if "uuid" in sample.labels:
            found[normalize_uuid(sample.labels["uuid"])] = str(int(sample.value))
    for sample in parsed.samples.get(INFO, []):
        if "uuid" in sample.labels and sample.labels.get("index", "").isdigit():
            found[normalize_uuid(sample.labels["uuid"])] = sample.labels["index"]
    return found


def parse_device(
    body: bytes, where: str, card: Card = ANY_CARD, answered_on: str | None = None, budget: Budget | None = None
) -> DeviceReading:
    parsed = exposition.parse(body, where, FAMILIES, budget)
    parsed.require_all(REQUIRED, where)
    index_of = indices(parsed)
    if card.device is not None and is_index(card.device) and not index_of and parsed.samples.get(TOTAL):
        raise SourceError(
            f"metrics from {where}: the answer maps no GPU index to a uuid (no {INDEX} or {INFO}): set {DEVICE} to the GPU's UUID"
        )
    ours = watched_series(
        parsed,
        (TOTAL, FREE, USED),
        lambda labels: nvidia_gpu_exporter_card(labels, index_of, answered_on),
        card,
        where,
        "nvidia_gpu_exporter",
        TOTAL,
    )
    total = one_value(ours.get(TOTAL, []), where, TOTAL)
    free = one_value(ours.get(FREE, []), where, FREE)
    if total < MIN_PLAUSIBLE_TOTAL:
        raise SourceError(f"metrics from {where}: {TOTAL} is {total:g}, expected bytes (MiB?)")
    if free > total:
        raise SourceError(f"metrics from {where}: {FREE} {free:g} exceeds {TOTAL} {total:g}")
    held = total - free
    # Older exporter releases have no used figure: then everything not free counts as used.
    used = min(one_value(ours.get(USED, []), where, USED), held) if USED in parsed.families else held
    return DeviceReading(
        total_bytes=int(total),
        used_bytes=int(used),
        reserved_bytes=int(held - used),
        sampled_at=exposition.sampled_at(ours.get(FREE, []), where),
    )


class Source(DeviceScrapedSource):
    name = "nvidia_gpu_exporter"
    parse_device = staticmethod(parse_device)


parse = Source.parse  # read alone: all it sees held is unattributed


def range_queries(card: Card, node_label: str = "node") -> tuple[str, str | None]:
    """PromQL for a night through Prometheus (gate measure): the bytes held on the card (total -
    free) and its compute processes, one series per card. The exporter names no node: the scrape's
    label `node_label` does; an index is matched through `nvidia_smi_index`."""
    node = [f'{node_label}="{card.node}"'] if card.node is not None else []
    uuid = [f'uuid="{normalize_uuid(card.device)}"'] if card.device is not None and not is_index(card.device) else []
    selector = "{" + ",".join(node + uuid) + "}" if node or uuid else ""
    by = f"max by (uuid, {node_label})"

    def one(family: str) -> str:
        if card.device is not None and is_index(card.device):
            return f"{by} ({family}{selector} and on (uuid, {node_label}) ({INDEX}{selector} == {int(card.device)}))"
        return f"{by} ({family}{selector})"

    return f"{one(TOTAL)} - {one(FREE)}", one(PROCESSES)
