"""Conformance tests for the CPU budget (issue 22): ``BackendConformance`` inherits them, so
every backend runs them on itself. They count the native threads (BLAS, through
threadpoolctl) that tasks doing matrix products would run, and skip where numpy or
threadpoolctl is missing.

The task functions live here so that process and cluster workers can import them.
"""

from __future__ import annotations

from typing import Any

import pytest

from parjob import Parallel, delayed, effective_n_jobs, parallel_config
from parjob.cpu import cpu_count


def blas_threads() -> int:
    """The most threads a BLAS library loaded in this process may run now."""
    from threadpoolctl import threadpool_info

    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return max(counts, default=0)


def multiply(_: Any) -> dict[str, int]:
    """A matrix product, then what this task may run: BLAS threads, CPUs, nested n_jobs."""
    import numpy

    matrix = numpy.ones((128, 128))
    float((matrix @ matrix)[0, 0])
    with parallel_config("threading"):
        nested_n_jobs = effective_n_jobs(-1)
    return {"blas": blas_threads(), "cpus": cpu_count(), "nested_n_jobs": nested_n_jobs}


def nested_multiply(_: Any) -> dict[str, Any]:
    """A nested threading call with ``n_jobs=-1`` doing matrix products inside a task."""
    outer = cpu_count()
    inner = Parallel(n_jobs=-1, backend="threading")(delayed(multiply)(i) for i in range(4))
    return {"cpus": outer, "inner": inner, "blas_after": blas_threads()}


class CpuBudgetConformance:
    """One CPU budget: n_jobs workers x native threads never exceed the CPUs, nested calls
    get what is left, ``inner_max_num_threads=`` overrides, the caller's limits stay."""

    n_jobs: int
    configured: Any  # the fixture BackendConformance defines

    def _workers(self) -> int:
        return Parallel().backend.effective_n_jobs(self.n_jobs)

    def test_native_threads_fit_the_workers_share(self, configured: None) -> None:
        pytest.importorskip("numpy")
        pytest.importorskip("threadpoolctl")
        caller = blas_threads()
        workers = self._workers()
        share = max(cpu_count() // workers, 1)
        seen = Parallel(batch_size=1)(delayed(multiply)(i) for i in range(2 * workers))
        for task in seen:
            assert 1 <= task["blas"] <= share, (task, share)
            assert task["cpus"] <= share and task["nested_n_jobs"] == task["cpus"]
            if workers <= cpu_count():
                assert workers * task["blas"] <= cpu_count()
        assert blas_threads() == caller  # the caller's own limit is back

    def test_inner_max_num_threads_overrides_the_share(self, configured: None) -> None:
        pytest.importorskip("numpy")
        pytest.importorskip("threadpoolctl")
        backend = Parallel().backend
        if self._workers() == 1 and backend.local:
            pytest.skip("tasks run in the caller: no workers to limit")
        caller = blas_threads()
        for explicit in (2, 1):  # above the engine's own default, then below the share
            with parallel_config(inner_max_num_threads=explicit):
                seen = Parallel(batch_size=1)(delayed(multiply)(i) for i in range(4))
            # threads share the caller's pools: a limit there never raises them
            expected = min(explicit, caller) if backend.uses_threads else explicit
            assert {task["blas"] for task in seen} == {expected}, explicit
            assert {task["cpus"] for task in seen} == {explicit}
        assert blas_threads() == caller

    def test_nested_calls_use_what_is_left(self, configured: None) -> None:
        pytest.importorskip("numpy")
        pytest.importorskip("threadpoolctl")
        seen = Parallel(batch_size=1)(delayed(nested_multiply)(i) for i in range(2))
        for task in seen:
            share = task["cpus"]
            inner_workers = share  # n_jobs=-1 inside the task
            for inner in task["inner"]:
                # each nested worker: a share of its task's share, BLAS within it
                assert inner["cpus"] == max(share // inner_workers, 1)
                assert inner_workers * inner["blas"] <= max(share, inner_workers)
            assert task["blas_after"] <= share  # the nested call gave its limit back
