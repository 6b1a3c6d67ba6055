"""The simulation's clock: whole epoch seconds, and the instants the policy reads."""

from __future__ import annotations

from datetime import UTC, datetime


def epoch(instant: datetime) -> int:
    return int(instant.timestamp())


def instant(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)
