"""Many small calls of the same function (scikit-learn's way): what the first call measured
lets the next ones send a short input of tiny tasks as one batch (``parjob.tasktimes``)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator

import pytest

from parjob import Parallel, delayed, tasktimes
from parjob.batching import Batcher


@pytest.fixture(autouse=True)
def nothing_measured() -> Iterator[None]:
    tasktimes.forget()
    yield
    tasktimes.forget()


def double(x: int) -> int:
    return 2 * x


def where(x: int) -> tuple[int, str]:
    return x, threading.current_thread().name


class Scaler:
    def scale(self, x: int) -> int:
        return 3 * x

    def __call__(self, x: int) -> int:
        return 3 * x


def test_functions_are_known_by_their_code() -> None:
    tasktimes.remember(double, 1e-6)
    assert tasktimes.recall(double) == 1e-6
    assert tasktimes.recall(functools.partial(double, 1)) == 1e-6
    tasktimes.remember(Scaler().scale, 2e-6)
    assert tasktimes.recall(Scaler().scale) == 2e-6  # another instance's method: same code
    made = [lambda x: x for _ in range(2)]  # one lambda expression, made twice
    tasktimes.remember(made[0], 3e-6)
    assert tasktimes.recall(made[1]) == 3e-6
    # no code of their own: not remembered (one class's instances can do anything)
    tasktimes.remember(Scaler(), 4e-6)
    assert tasktimes.recall(Scaler()) is None
    tasktimes.remember(len, 5e-6)
    assert tasktimes.recall(len) is None
    assert tasktimes.recall(where) is None


def test_a_new_time_is_blended_with_what_was_known() -> None:
    tasktimes.remember(double, 1e-6)
    tasktimes.remember(double, 1e-4)  # one slow call (a busy machine, say)
    assert tasktimes.recall(double) == pytest.approx(1e-5)
    for _ in range(4):  # a function that became slow is known as such within a few calls
        tasktimes.remember(double, 1.0)
    assert (tasktimes.recall(double) or 0.0) > 0.1


def test_only_the_latest_functions_are_kept() -> None:
    functions = []
    for k in range(tasktimes.KEPT + 1):
        namespace: dict[str, object] = {}
        exec(f"def f{k}(x):\n    return x\n", namespace)
        functions.append(namespace[f"f{k}"])
        tasktimes.remember(functions[-1], 1e-6)
    assert tasktimes.recall(functions[0]) is None
    assert tasktimes.recall(functions[-1]) == 1e-6


def test_a_short_input_of_tasks_known_to_be_tiny_is_one_first_batch() -> None:
    def first_batch(total: int, prior: float | None) -> int:
        batcher = Batcher("auto", n_jobs=2, target_seconds=0.02, total=total, prior=prior)
        assert batcher.budget is not None  # still probing: a slow task cuts the batch short
        return batcher.next_size(0)

    assert first_batch(4, None) == 1  # nothing known: one task a batch, as before
    assert first_batch(4, 1e-6) == 4  # 4 us in all: not worth a second batch
    assert first_batch(4, 1e-3) == 1  # 1 ms a task: spread over the workers
    assert first_batch(100, 1e-6) == 25  # 100 us: each of 4 batches is worth its cost
    # the hint applies to the first wave of a short input only
    assert first_batch(10_000, 1e-6) == 8
    fixed = Batcher(3, n_jobs=2, target_seconds=0.02, total=4, prior=1e-6)
    assert fixed.next_size(0) == 3


def test_later_calls_of_a_tiny_function_run_as_one_batch_in_order() -> None:
    parallel = Parallel(n_jobs=2, backend="threading")
    assert parallel(delayed(double)(i) for i in range(4)) == [0, 2, 4, 6]
    first = parallel.last_run
    assert first is not None and first.batches == 4  # probed one task at a time
    assert tasktimes.recall(double) is not None  # measured
    for _ in range(3):
        # what a quiet machine measures (on a busy one a preempted worker thread can make
        # a 1-us task look like 50, and the next call then spreads it, as it should)
        tasktimes.forget()
        tasktimes.remember(double, 1e-6)
        assert parallel(delayed(double)(i) for i in range(4)) == [0, 2, 4, 6]
        again = parallel.last_run
        assert again is not None and (again.tasks, again.batches) == (4, 1)
    tasktimes.remember(where, 1e-6)
    out = Parallel(n_jobs=2, backend="threading")(delayed(where)(i) for i in range(4))
    assert [x for x, _ in out] == [0, 1, 2, 3]
    # still on the worker threads, not in the caller
    assert all(name != threading.current_thread().name for _, name in out)


def test_a_function_that_became_slow_is_cut_short_and_spread_again() -> None:
    slow = {"seconds": 0.0}

    def task(x: int) -> int:
        time.sleep(slow["seconds"])
        return x

    assert Parallel(n_jobs=2, backend="threading")(delayed(task)(i) for i in range(4)) == [
        0,
        1,
        2,
        3,
    ]
    tasktimes.forget()
    tasktimes.remember(task, 1e-6)  # as a quiet machine measures it (see above)
    slow["seconds"] = 0.05  # past the first batch's budget (2 x 20 ms on threads)
    parallel = Parallel(n_jobs=2, backend="threading")
    assert parallel([delayed(task)(i) for i in range(4)]) == [0, 1, 2, 3]
    summary = parallel.last_run
    # one batch, cut short after its first task; the rest sent again one task a batch
    assert summary is not None and summary.batches == 4
    assert summary.batch_sizes == {1: 4}
    # known as slow enough now (blended with the old time) for a small call to be spread
    assert (tasktimes.recall(task) or 0.0) > 1e-4
    assert Batcher("auto", 2, 0.02, total=4, prior=tasktimes.recall(task)).next_size(0) == 1


def test_kept_thread_pools_are_reused_until_they_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    from parjob.backends import threadpools

    threadpools.discard_idle()
    first = threadpools.take(2)
    threadpools.give_back(2, first)
    other = threadpools.take(3)  # another size: another pool
    assert other is not first
    threadpools.give_back(3, other)
    assert threadpools.take(2) is first
    threadpools.give_back(2, first)
    monkeypatch.setattr(threadpools, "IDLE_SECONDS", -1.0)  # every idle pool has expired
    fresh = threadpools.take(2)
    assert fresh is not first
    assert first._shutdown and other._shutdown  # type: ignore[attr-defined]
    fresh.shutdown()


class Awkward:
    """A callable whose attributes are not what they seem."""

    __code__ = "not code"

    def __getattr__(self, name: str) -> object:
        if name == "__func__":
            raise RuntimeError("no __func__ here")
        raise AttributeError(name)

    def __call__(self, x: int) -> int:
        return x


def test_callables_without_real_code_are_run_and_not_remembered() -> None:
    awkward = Awkward()
    assert tasktimes.recall(awkward) is None
    for _ in range(2):
        out = Parallel(n_jobs=2, backend="threading")(delayed(awkward)(i) for i in range(4))
        assert out == [0, 1, 2, 3]
    assert tasktimes.recall(awkward) is None


def test_options_checked_once_are_the_same_options() -> None:
    from parjob import optioncache, parallel_config

    optioncache.forget()
    first = Parallel(n_jobs=2, backend="threading", verbose=1, timeout=5)
    again = Parallel(n_jobs=2, backend="threading", verbose=1, timeout=5)
    assert again.verbose == 1 and again.timeout == 5.0 and again.settings is first.settings
    assert again.backend is not first.backend  # each instance has its own backend
    # the same value of another type is checked afresh: True is refused where 1 is not
    with pytest.raises(ValueError, match="retries"):
        Parallel(n_jobs=2, retries=True)
    assert Parallel(n_jobs=2, retries=1).policy.retries == 1
    for _ in range(2):  # a refused value is refused every time
        with pytest.raises(ValueError, match="timeout"):
            Parallel(n_jobs=2, timeout=-1)
    with parallel_config(verbose=3):  # a block's settings are read for its own instances
        assert Parallel(n_jobs=2, backend="threading").verbose == 3
    assert Parallel(n_jobs=2, backend="threading").verbose == 0
    with parallel_config(verbose=2):
        assert Parallel(n_jobs=2, backend="threading").verbose == 2
    for k in range(optioncache.KEPT + 1):  # only the latest are kept
        Parallel(n_jobs=2, timeout=k + 1)
    assert len(optioncache._known) <= optioncache.KEPT


def test_kept_options_keep_no_block_settings_alive() -> None:
    import gc
    import weakref

    from parjob import optioncache, parallel_config

    class Report:  # a progress callback the block sets, holding the caller's data
        def __init__(self) -> None:
            self.payload = list(range(10))

        def __call__(self, done: int, total: int | None) -> None:
            pass

    optioncache.forget()
    report = Report()
    alive = weakref.ref(report)
    with parallel_config(progress=report):
        for _ in range(2):
            assert Parallel(n_jobs=2, backend="threading").progress is report
    del report
    gc.collect()
    assert alive() is None


def test_delayed_keeps_only_a_function_its_namespace_holds_between_calls() -> None:
    from parjob import tasks

    Parallel(n_jobs=2, backend="threading")(delayed(double)(i) for i in range(4))
    assert tasks._last[0] is double  # its module keeps it alive anyway
    made = delayed(double)
    Parallel(n_jobs=2, backend="threading")(made(i) for i in range(4))
    assert delayed(double) is made
    local = functools.partial(double)
    Parallel(n_jobs=2, backend="threading")(delayed(local)(i) for i in range(4))
    assert tasks._last == (None, None)  # nothing else is held after a call
    Parallel(n_jobs=2, backend="threading")(delayed(lambda x: x)(i) for i in range(4))
    assert tasks._last == (None, None)

    def inner(x: int) -> int:  # a closure's namespace does not hold it
        return x

    Parallel(n_jobs=2, backend="threading")(delayed(inner)(i) for i in range(4))
    assert tasks._last == (None, None)
    namespace: dict[str, object] = {}
    exec("def run_here(x):\n    return x", namespace)  # as a benchmark harness defines one
    Parallel(n_jobs=2, backend="threading")(delayed(namespace["run_here"])(i) for i in range(4))  # type: ignore[operator]
    assert tasks._last[0] is namespace["run_here"]


def test_arguments_that_cannot_be_hashed_are_simply_checked() -> None:
    class Touchy:
        def __hash__(self) -> int:
            raise ValueError("no hash for me")

        def __call__(self, done: int, total: int | None) -> None:
            pass

    touchy = Touchy()
    for _ in range(2):
        assert Parallel(n_jobs=2, backend="threading", progress=touchy).progress is touchy
        assert Parallel(n_jobs=2, backend="threading", initargs=[]).world is not None
