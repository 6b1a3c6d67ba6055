"""The Prometheus text format, parsed with prometheus-client and then distrusted.

prometheus-client's parser is lazy (errors surface while iterating) and lets NaN, infinities,
negative values and duplicate series through; memory figures can be none of those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from gate.sources import SourceError


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float
    timestamp: float | None


@dataclass(frozen=True)
class Exposition:
    """Samples by metric name; `families` holds every family announced, samples or not."""

    families: frozenset[str]
    samples: dict[str, list[Sample]]

    def require(self, name: str, where: str) -> list[Sample]:
        """The family's samples; a family that is not there at all is blindness."""
        if name not in self.families:
            raise SourceError(f"metrics from {where}: no {name} family in the answer")
        return self.samples.get(name, [])

    def device_value(self, name: str, where: str) -> float:
        """The value of a per-device family that must describe exactly one GPU."""
        samples = self.require(name, where)
        if not samples:
            raise SourceError(f"metrics from {where}: {name} has no samples (no GPU seen by the exporter)")
        if len(samples) > 1:
            # Several GPUs, or MIG instances of one: either way not the one shared card the gate watches.
            raise SourceError(f"metrics from {where}: {name} has {len(samples)} series; the gate watches one shared GPU")
        return samples[0].value


def parse(body: bytes, where: str) -> Exposition:
    """Parse exposition text; any oddity becomes a one-line SourceError naming `where`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"metrics from {where}: answer is not UTF-8 text") from exc
    families: set[str] = set()
    samples: dict[str, list[Sample]] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    try:
        for family in text_string_to_metric_families(text):
            families.add(family.name)
            for raw in family.samples:
                key = (raw.name, tuple(sorted(raw.labels.items())))
                if key in seen:
                    raise SourceError(f"metrics from {where}: duplicate series {_series(raw.name, raw.labels)}")
                seen.add(key)
                value = float(raw.value)
                if not math.isfinite(value) or value < 0:
                    raise SourceError(
                        f"metrics from {where}: {_series(raw.name, raw.labels)} is {raw.value}, expected a finite non-negative number"
                    )
                samples.setdefault(raw.name, []).append(Sample(raw.name, dict(raw.labels), value, raw.timestamp))
                families.add(raw.name)
    except SourceError:
        raise
    except Exception as exc:  # the parser raises ValueError, IndexError, TypeError... on bad text
        detail = " ".join(str(exc).split())[:160]
        raise SourceError(f"metrics from {where}: not Prometheus exposition text ({detail})") from exc
    return Exposition(frozenset(families), samples)


def _series(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def sampled_at(samples: list[Sample], where: str) -> datetime | None:
    """When the figures were taken, if the exporter stamped them (most do not: then they are as
    fresh as the answer, None). A stamp no clock can show is blindness, not a crash."""
    stamps = [s.timestamp for s in samples if s.timestamp is not None]
    if not stamps:
        return None
    try:
        return datetime.fromtimestamp(float(max(stamps)), UTC)
    except (OverflowError, OSError, ValueError, TypeError) as exc:
        raise SourceError(f"metrics from {where}: a sample is stamped {max(stamps)}, not a time") from exc
