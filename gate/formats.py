"""The one definition of what an operator may type for a size, a duration, a window and a
schedule: regular expressions the gate's parsers match first, and that chart/values.schema.json
carries verbatim in its `definitions` (tests/test_agreement.py keeps the two equal and feeds both
the same inputs). What a pattern cannot say (a range that runs backwards, a window that ends when
it starts, a time zone that does not exist) the gate refuses after matching, and the chart at
render or the API server at install; the agreement test lists each such case and where.

Sizes need a binary unit: a bare number (bytes? MiB?) and decimal GB (10^9, not what nvidia-smi
means by a GB) are the two ways an operator got a floor that meant nothing.
"""

from __future__ import annotations

import re

SIZE = r"^[0-9]+(\.[0-9]+)?(KiB|MiB|GiB|TiB|Ki|Mi|Gi|Ti)$"
DURATION = r"^([0-9]+(\.[0-9]+)?|([0-9]+(\.[0-9]+)?(ms|s|m|h))+)$"
WINDOW = r"^([01]?[0-9]|2[0-3]):[0-5][0-9]-([01]?[0-9]|2[0-3]):[0-5][0-9]$"


def _cron_field(number: str) -> str:
    item = rf"(\*|\?|{number}(-{number})?)(/[1-9][0-9]*)?"
    return rf"{item}(,{item})*"


# Five fields as the CronJob controller reads them (robfig/cron v3), numbers only: minute, hour,
# day of month, month, day of week; or one of its @ macros.
SCHEDULE = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
    + " ".join(
        _cron_field(n) for n in (r"[0-5]?[0-9]", r"([01]?[0-9]|2[0-3])", r"(0?[1-9]|[12][0-9]|3[01])", r"(0?[1-9]|1[0-2])", r"[0-6]")
    )
    + r")$"
)

# A card: a Kubernetes node name (an RFC 1123 subdomain), a GPU as the exporters label it (its
# UUID as nvidia-smi writes it, with or without `GPU-`, or its index), and a Prometheus label name.
NODE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DEVICE = r"^([0-9]{1,3}|([Gg][Pp][Uu]-)?[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$"
LABEL = r"^[a-zA-Z_][a-zA-Z0-9_]*$"


def normalize_uuid(value: str) -> str:
    """A GPU UUID as nvidia_gpu_exporter writes it (lower case, no `GPU-`): `GPU-6D5C…` as
    Kubernetes and dcgm-exporter write it and `6d5c…` are one card."""
    text = value.strip().lower()
    return text[4:] if text.startswith("gpu-") else text


PATTERNS = {"size": SIZE, "duration": DURATION, "window": WINDOW, "schedule": SCHEDULE}


def matches(kind: str, text: str) -> bool:
    return re.fullmatch(PATTERNS[kind], str(text)) is not None
