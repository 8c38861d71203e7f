"""Nested Parallel calls follow the outer backend's nested choice: no oversubscription."""

from __future__ import annotations

from parjob import Parallel, delayed, parallel_config


def inner_choice(_: int) -> tuple[str, int]:
    parallel = Parallel()
    return parallel.backend.name, parallel._effective_n_jobs()


def inner_explicit(_: int) -> tuple[str, int]:
    parallel = Parallel(n_jobs=4)
    return parallel.backend.name, parallel._effective_n_jobs()


def inner_configured(_: int) -> str:
    with parallel_config("threading", n_jobs=2):
        return Parallel().backend.name


def test_threads_nest_sequentially() -> None:
    out = Parallel(n_jobs=2, backend="threading")(delayed(inner_choice)(i) for i in range(4))
    assert set(out) == {("sequential", 1)}


def test_explicit_n_jobs_inside_a_thread_stays_sequential() -> None:
    out = Parallel(n_jobs=2, backend="threading")(delayed(inner_explicit)(i) for i in range(4))
    assert set(out) == {("sequential", 1)}


def test_task_may_choose_its_own_config() -> None:
    out = Parallel(n_jobs=2, backend="threading")(delayed(inner_configured)(i) for i in range(2))
    assert out == ["threading", "threading"]


def test_worker_choice_does_not_leak_to_the_caller() -> None:
    with parallel_config("threading", n_jobs=2):
        Parallel()(delayed(inner_choice)(i) for i in range(4))
        assert Parallel().backend.name == "threading"


def test_inline_run_keeps_callers_config() -> None:
    with parallel_config("threading", n_jobs=2):
        assert (
            Parallel(n_jobs=1)(delayed(inner_choice)(i) for i in range(2)) == [("threading", 2)] * 2
        )
