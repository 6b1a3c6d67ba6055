"""Which series of an answer are about the watched card, by the labels each exporter writes.

Read from the exporters' sources:

- dcgm-exporter (`internal/pkg/rendermetrics`): `gpu` (the index), `UUID` (`uuid` with
  `--use-old-namespace`), `device` (`nvidia0`), `modelName`, and the node in `Hostname` (every
  release to 4.x; `hostname` on its main branch since #655), which is the NODE_NAME its
  DaemonSet sets from `spec.nodeName`, else the host name. Under time-slicing with
  KUBERNETES_VIRTUAL_GPUS (or DRA) it repeats a device's series once per pod using it (`pod`,
  `namespace`, `container`, `pod_uid`: the same value), and adds per-pod `DCGM_FI_DEV_FB_USED`
  series beside the device's own; MIG adds `GPU_I_ID` series, one per instance.
- utkuozdemir/nvidia_gpu_exporter (`internal/exporter`): `uuid` only, lower case and without
  `GPU-` (its NormalizeUUID); the index is `nvidia_smi_index{uuid}`'s value and
  `nvidia_smi_gpu_info{index,uuid}`'s label. No node.
- the owner's gpu-pod-exporter: neither; the node is whichever DaemonSet pod answered.

An answer with series for other cards but none for ours is blind (not an idle card), and one
with several cards when the settings do not say which is blind too, with the setting to set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from gate.formats import normalize_uuid
from gate.sources import Card, SourceError
from gate.sources.exposition import Exposition, Sample

T = TypeVar("T")

NODE = "card.node (GATE_CARD_NODE)"
DEVICE = "card.device (GATE_CARD_DEVICE)"
# Labels that attribute a device's series to a pod: dcgm-exporter's copies of one device's figure.
ATTRIBUTION = ("pod", "namespace", "container", "pod_uid", "pod_name", "pod_namespace", "container_name", "vgpu", "dra_claim_name")


@dataclass(frozen=True)
class SeriesCard:
    """The card one series is about, as far as its labels (or the pod that answered) say."""

    node: str | None = None
    uuid: str | None = None  # normalized: lower case, no GPU- prefix
    index: str | None = None

    def __str__(self) -> str:
        device = f"GPU-{self.uuid[:8]}" if self.uuid else (f"#{self.index}" if self.index is not None else "?")
        return f"{self.node or '?'}/{device}"


def is_index(device: str) -> bool:
    return device.isdigit()


def dcgm_card(labels: Mapping[str, str], answered_on: str | None = None) -> SeriesCard:
    uuid = labels.get("UUID") or labels.get("uuid")
    return SeriesCard(
        node=labels.get("Hostname") or labels.get("hostname") or answered_on,
        uuid=normalize_uuid(uuid) if uuid else None,
        index=labels.get("gpu"),
    )


def nvidia_gpu_exporter_card(labels: Mapping[str, str], index_of: Mapping[str, str], answered_on: str | None = None) -> SeriesCard:
    """The exporter's `uuid`, its index by that uuid (`index_of`: what its index families say),
    and the node whose pod answered (its series name none)."""
    uuid = normalize_uuid(labels["uuid"]) if "uuid" in labels else None
    return SeriesCard(node=answered_on, uuid=uuid, index=index_of.get(uuid or ""))


def watched_series(
    parsed: Exposition,
    families: Sequence[str],
    card_of: Callable[[Mapping[str, str]], SeriesCard],
    card: Card,
    where: str,
    exporter: str,
    named: str,
) -> dict[str, list[Sample]]:
    """The watched card's samples of `families`, by family: each series put with the card its
    labels name (`card_of`, as `exporter` writes them), then that card chosen (`choose`).
    SourceError when the answer has no series in any of them (the message names `named`)."""
    groups: dict[SeriesCard, dict[str, list[Sample]]] = {}
    for family in families:
        for sample in parsed.samples.get(family, []):
            groups.setdefault(card_of(sample.labels), {}).setdefault(family, []).append(sample)
    ours = choose(groups, card, where, exporter)
    if ours is None:
        raise SourceError(f"metrics from {where}: {named} has no samples (no GPU seen by the exporter)")
    return ours


def matches(series: SeriesCard, card: Card) -> bool:
    if card.node is not None and series.node != card.node:
        return False
    if card.device is None:
        return True
    if is_index(card.device):
        return series.index is not None and series.index.isdigit() and int(series.index) == int(card.device)
    return series.uuid is not None and series.uuid == normalize_uuid(card.device)


def _listed(cards: Sequence[SeriesCard]) -> str:
    names = sorted(str(c) for c in cards)
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def choose(groups: Mapping[SeriesCard, T], card: Card, where: str, what: str) -> T | None:
    """The watched card's group; None when the answer has no series at all (the caller decides
    what an empty family means). SourceError when it has series only for other cards, or for
    several cards the settings do not tell apart."""
    if not groups:
        return None
    ours = [c for c in groups if matches(c, card)]
    if not ours:
        raise SourceError(
            f"metrics from {where}: {what} has series for {_listed(list(groups))} but none for the watched card ({card}): blind, not idle"
        )
    if len(ours) > 1:
        setting = NODE if len({c.node for c in ours}) > 1 else DEVICE
        raise SourceError(
            f"metrics from {where}: {what} answers for {len(ours)} cards ({_listed(ours)}); the gate watches one: "
            f"set {setting} to the server's"
        )
    return groups[ours[0]]


def one_value(samples: Sequence[Sample], where: str, family: str) -> float:
    """The card's figure in `family`: its one series, or the copies dcgm-exporter writes of it
    (one per pod under time-slicing, all equal; the device's own, unattributed, wins where there
    is one). Copies that disagree (MIG instances, per-pod shares) are no one figure: blind."""
    if not samples:
        raise SourceError(f"metrics from {where}: {family} has no series for the watched card")
    own = [s for s in samples if not any(label in s.labels for label in ATTRIBUTION)] or list(samples)
    values = sorted({s.value for s in own})
    if len(values) > 1:
        shown = ", ".join(f"{v:g}" for v in values[:4])
        raise SourceError(
            f"metrics from {where}: {family} has {len(own)} series for one card with different values ({shown}): "
            "MIG instances or shares the gate cannot add up"
        )
    return values[0]
