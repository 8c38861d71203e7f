"""Native thread pools inside workers are limited to the workers' share of the CPUs."""

from __future__ import annotations

import pytest
from loky_tasks import nested_thread_limits, thread_limits

from parjob import (
    Parallel,
    cpu_count,
    delayed,
    effective_n_jobs,
    parallel_backend,
    parallel_config,
)
from parjob import threadlimits as threads

BACKENDS = ["loky", "multiprocessing"]
VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.fixture(autouse=True)
def no_user_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (*threads.THREAD_VARS, threads.TBB_IPC_VAR):
        monkeypatch.delenv(var, raising=False)


def _seen(backend: str, n_jobs: int = 2) -> list[dict]:
    return Parallel(n_jobs=n_jobs, backend=backend, batch_size=1)(
        delayed(thread_limits)() for _ in range(4)
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_limit_is_the_workers_share(backend: str) -> None:
    expected = max(cpu_count() // 2, 1)
    for seen in _seen(backend):
        assert {seen["env"][var] for var in VARS} == {str(expected)}
        assert seen["env"]["TBB_ENABLE_IPC"] == "1"
        assert seen["blas"] and all(n <= expected for n in seen["blas"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_limit_set_in_a_config_block(backend: str) -> None:
    with parallel_config(inner_max_num_threads=3):
        seen = _seen(backend)
    assert {s["env"][var] for s in seen for var in VARS} == {"3"}
    with parallel_backend(backend, n_jobs=2, inner_max_num_threads=1):
        seen = Parallel()(delayed(thread_limits)() for _ in range(2))
    assert {s["env"][var] for s in seen for var in VARS} == {"1"}
    assert {n for s in seen for n in s["blas"]} == {1}


def test_a_reused_worker_follows_a_new_limit() -> None:
    # the worker has loaded BLAS under one limit; the next call resizes it in place
    with parallel_config(inner_max_num_threads=1):
        first = _seen("loky")
    assert {n for s in first for n in s["blas"]} == {1}
    with parallel_config(inner_max_num_threads=2):
        second = _seen("loky")
    assert {s["pid"] for s in second} & {s["pid"] for s in first}  # the same workers
    assert {s["env"]["OPENBLAS_NUM_THREADS"] for s in second} == {"2"}
    if cpu_count() >= 2:
        assert {n for s in second for n in s["blas"]} == {2}
    with parallel_config(inner_max_num_threads=1):
        third = _seen("loky")
    assert {n for s in third for n in s["blas"]} == {1}


def test_variables_the_user_set_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MKL_NUM_THREADS", "5")
    monkeypatch.setenv("TBB_ENABLE_IPC", "0")
    seen = _seen("loky")[0]
    assert seen["env"]["MKL_NUM_THREADS"] == "5"
    assert seen["env"]["TBB_ENABLE_IPC"] == "0"
    assert seen["env"]["OMP_NUM_THREADS"] == str(max(cpu_count() // 2, 1))
    with parallel_config(inner_max_num_threads=2):  # an explicit limit wins
        assert _seen("loky")[0]["env"]["MKL_NUM_THREADS"] == "2"


def test_default_share_values() -> None:
    assert threads.default_share(cpu_count() * 2) == 1
    assert threads.default_share(1) == cpu_count()


def test_a_nested_pool_splits_its_workers_share() -> None:
    # the outer workers' limit (2, set by parjob in their environment) is no user setting:
    # the nested pool's 2 workers each get half of it
    if cpu_count() < 2:
        pytest.skip("needs 2 CPUs")
    with parallel_config(inner_max_num_threads=2):
        seen = Parallel(n_jobs=2, backend="loky")(delayed(nested_thread_limits)() for _ in range(2))
    inner = [limits for nested in seen for limits in nested]
    assert {limits["env"]["OPENBLAS_NUM_THREADS"] for limits in inner} == {"1"}
    assert {n for limits in inner for n in limits["blas"]} == {1}


@pytest.mark.parametrize("backend", BACKENDS)
def test_inside_a_task_n_jobs_minus_one_is_the_share(backend: str) -> None:
    share = max(cpu_count() // 2, 1)
    seen = Parallel(n_jobs=2, backend=backend)(delayed(effective_n_jobs)(-1) for _ in range(2))
    assert seen == [share, share]
    seen = Parallel(n_jobs=2, backend=backend)(delayed(cpu_count)() for _ in range(2))
    assert seen == [share, share]
