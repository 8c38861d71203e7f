"""The CPU budget on thread workers: one process-wide limit, held while thread calls run,
counted across concurrent calls, restored after; a task's share as its cpu_count()."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from parjob import Parallel, cpu_count, delayed, parallel_config, threadlimits
from parjob.backend import Backend
from parjob.testing_budget import blas_threads, multiply

numpy = pytest.importorskip("numpy")
threadpoolctl = pytest.importorskip("threadpoolctl")


@pytest.fixture(autouse=True)
def caller_limit() -> Any:
    """Every test starts and must end with the caller's BLAS at its full count."""
    with threadpoolctl.threadpool_limits(limits=cpu_count(), user_api="blas"):
        yield
        assert blas_threads() == cpu_count()
        assert not threadlimits._held


def test_held_limits_nest_and_restore_in_any_order() -> None:
    if cpu_count() < 2:
        pytest.skip("needs 2 CPUs to tell limits apart")
    first = threadlimits.hold(2)
    second = threadlimits.hold(1)
    assert blas_threads() == 1  # the smallest share of the calls running now
    threadlimits.release(first)  # the first call ends before the second
    assert blas_threads() == 1
    threadlimits.release(second)
    assert blas_threads() == cpu_count()


def test_a_held_limit_never_raises_the_callers_own() -> None:
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        token = threadlimits.hold(cpu_count())
        assert blas_threads() == 1
        threadlimits.release(token)
        assert blas_threads() == 1


def _limit_seen(barrier: threading.Barrier, n_jobs: int) -> list[dict[str, int]]:
    def task(i: int) -> dict[str, int]:
        barrier.wait(timeout=30)  # both calls are running now
        return multiply(i)

    return Parallel(n_jobs=n_jobs, backend="threading", batch_size=1)(
        delayed(task)(i) for i in range(n_jobs)
    )


def test_concurrent_threading_calls_restore_the_callers_limit() -> None:
    # two calls from two threads overlap (a barrier holds all their tasks until all run):
    # neither restores the caller's limit while the other still runs
    barrier = threading.Barrier(4)
    seen: list[list[dict[str, int]]] = []
    callers = [
        threading.Thread(target=lambda: seen.append(_limit_seen(barrier, 2))) for _ in range(2)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=60)
    assert len(seen) == 2
    share = max(cpu_count() // 2, 1)
    assert {task["blas"] for call in seen for task in call} == {share}
    assert blas_threads() == cpu_count()


def test_limit_restored_after_a_failing_threading_call() -> None:
    with pytest.raises(ZeroDivisionError):
        Parallel(n_jobs=2, backend="threading")(delayed(divmod)(1, i) for i in (1, 0, 1))
    assert blas_threads() == cpu_count()


def test_a_with_block_holds_the_limit_until_its_end() -> None:
    with Parallel(n_jobs=2, backend="threading") as parallel:
        parallel(delayed(multiply)(i) for i in range(2))
        assert blas_threads() == max(cpu_count() // 2, 1)
    assert blas_threads() == cpu_count()


def test_inside_a_task_cpu_count_is_the_share() -> None:
    with parallel_config(inner_max_num_threads=1):
        seen = Parallel(n_jobs=2, backend="threading")(delayed(cpu_count)() for _ in range(2))
    assert seen == [1, 1]
    assert cpu_count() >= 1  # the caller's own count is untouched


class _Cluster(Backend):
    """A cluster backend that sets no budget (the contract's default for clusters)."""

    name = "budgetless"
    uses_threads = False
    serializes = False
    local = False


def test_a_cluster_backend_without_a_share_sets_no_budget() -> None:
    assert threadlimits.for_call(_Cluster(), 2, None) is None
    explicit = threadlimits.for_call(_Cluster(), 2, 3)
    assert explicit is not None and explicit.share == 3 and explicit.explicit


def test_a_share_the_worker_cannot_compute_runs_tasks_unlimited() -> None:
    def broken() -> int:
        raise RuntimeError("no engine here")

    budget = threadlimits.Budget(broken, False, threadlimits.here())
    assert threadlimits.enter(budget) is None
