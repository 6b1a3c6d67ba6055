"""What the chart's templates need of the gate besides the settings table, generated into
chart/files/gate-constants.json by `make settings` (tests/test_chart_constants.py fails while it is
stale): the over-budget rule's slack and count the alerts describe, the seed's floor NOTES warns
about, where the loops that park read the control token, the guard's schedule for every window
(gate.cron's derivation, so no template parses a window or a cron field), and the IANA time zone
names a template refuses gate.timeZone against.
Helm cannot call Python: a template reads these instead of repeating them."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from gate import cron, defaults, policy
from gate.settings import BY_KEY

FILE = "files/gate-constants.json"
_BINARY_UNITS = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def _size(n_bytes: int) -> str:
    """Bytes in the largest binary unit that holds them whole: 268435456 -> '256MiB'."""
    for unit, size in _BINARY_UNITS:
        if n_bytes % size == 0:
            return f"{n_bytes // size}{unit}"
    return f"{n_bytes}B"


def time_zones() -> list[str]:
    """The IANA names of the tzdata package pinned in pyproject.toml: the database Python's
    zoneinfo falls back to, and one list whatever machine runs `make settings` (its system zone
    files do not count). The gate image reads the same names from Debian's tzdata."""
    return sorted(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())


def chart_constants() -> dict[str, Any]:
    return {
        "generatedBy": "make settings (python -m gate.chart_constants chart)",
        "overBudgetSlack": _size(policy.OVER_BUDGET_SLACK_BYTES),
        "overBudgetYields": policy.OVER_BUDGET_LIMIT,
        "seedFloor": BY_KEY["floor"].default,
        "anyTimeGuard": cron.ANY_TIME_GUARD,
        "guardByWindow": cron.guard_schedules(),
        "timeZones": time_zones(),
        # Where the gate's loops that park read the control port's token (gate --control-token-file).
        "controlTokenFile": defaults.CONTROL_TOKEN_FILE,
    }


def write(chart: str) -> None:
    (Path(chart) / FILE).write_text(json.dumps(chart_constants(), indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    write(sys.argv[1] if len(sys.argv) > 1 else "chart")
