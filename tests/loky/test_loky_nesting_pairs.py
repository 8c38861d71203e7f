"""Every outer x inner pair of local backends: a nested call never hangs or crashes (issue 17).

A nested call that names a process backend where processes cannot start (a forked
``multiprocessing`` worker) runs on the worker's nested choice, with one warning that
names what was asked and what runs; where it can start, it runs as asked, silently.
"""

from __future__ import annotations

import multiprocessing

import pytest
from loky_tasks import nested_call

from parjob import Parallel, delayed

LOCAL = ["sequential", "threading", "loky", "multiprocessing"]
PROCESSES = {"loky", "multiprocessing"}


def forked(outer: str) -> bool:
    return outer == "multiprocessing" and multiprocessing.get_start_method() == "fork"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("outer", LOCAL)
def test_nested_pairs_run_and_warn_only_when_they_run_less_parallel(outer: str) -> None:
    # one outer call per outer backend, its tasks trying every inner backend (twice each)
    inners = LOCAL * 2
    reports = Parallel(n_jobs=2, backend=outer)(delayed(nested_call)(inner, 2) for inner in inners)
    for inner, report in zip(inners, reports, strict=True):
        assert report["count"] == 6
        if forked(outer) and inner in PROCESSES:
            assert report["backend"] == "threading"
            (message,) = report["warnings"]
            assert message.startswith(f"{inner.capitalize()}-backed parallel loops cannot")
            assert f"Parallel(backend={inner!r}, n_jobs=2) runs on 'threading'" in message
            assert "'multiprocessing' backend" in message  # what it runs in
        else:
            assert (report["backend"], report["warnings"]) == (inner, []), (outer, inner)


@pytest.mark.timeout(60)
def test_nested_one_job_call_in_a_forked_worker_does_not_warn() -> None:
    if not forked("multiprocessing"):
        pytest.skip("the multiprocessing backend does not fork here")
    reports = Parallel(n_jobs=2, backend="multiprocessing")(
        delayed(nested_call)("loky", 1) for _ in range(2)
    )
    assert all(report["warnings"] == [] and report["count"] == 6 for report in reports)


@pytest.mark.timeout(60)
def test_spawned_multiprocessing_workers_may_start_process_pools() -> None:
    spawn = multiprocessing.get_context("spawn")
    reports = Parallel(n_jobs=2, backend=spawn)(delayed(nested_call)("loky", 2) for _ in range(2))
    assert [report["backend"] for report in reports] == ["loky", "loky"]
    assert all(report["warnings"] == [] for report in reports)


def test_a_multiprocessing_context_is_the_multiprocessing_backend_on_that_start_method() -> None:
    spawn = multiprocessing.get_context("spawn")
    parallel = Parallel(n_jobs=2, backend=spawn)
    assert parallel.backend.name == "multiprocessing"
    assert parallel.backend.context.get_start_method() == "spawn"
    assert parallel(delayed(abs)(-i) for i in range(5)) == [0, 1, 2, 3, 4]
