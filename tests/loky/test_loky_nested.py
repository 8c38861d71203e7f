"""Parallel calls inside a process worker use threads, never a new process pool."""

from __future__ import annotations

import pytest
from loky_tasks import nested_report

from parjob import Parallel, delayed


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_nested_calls_use_threads_in_the_worker(backend: str) -> None:
    reports = Parallel(n_jobs=2, backend=backend)(delayed(nested_report)(4) for _ in range(4))
    for report in reports:
        assert report["backend"] == "threading"
        assert report["inner_pids"] == {report["outer_pid"]}  # same process: no new pool
        assert report["children"] == 0
