from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from exporter import FakeExporter  # noqa: E402
from kubeapi import FakeKubeAPI  # noqa: E402


@pytest.fixture
def exporter() -> Iterator[FakeExporter]:
    with FakeExporter() as server:
        yield server


@pytest.fixture
def kubeapi() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as server:
        yield server
