"""The chart's helm-unittest suites, run through the real Helm engine (see helmunit.py)."""

from __future__ import annotations

import pytest
from helm import CHART
from helmunit import load_jobs, run

JOBS = load_jobs(CHART / "tests")


@pytest.mark.parametrize("job", JOBS, ids=[job.id for job in JOBS])
def test_suite(job):
    run(job)
