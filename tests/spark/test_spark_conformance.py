"""The core's conformance suite on a real ``local[2]`` session (the session fixture's)."""

from __future__ import annotations

from typing import Any

import pytest

from parjob.testing import BackendConformance


@pytest.fixture(autouse=True)
def _session(spark: Any) -> None:
    """The suite finds the session as the active one."""


class TestSparkConformance(BackendConformance):
    backend = "spark"
