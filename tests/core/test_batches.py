"""Batches survive pickling in each of their compact forms, and delayed() stays correct."""

from __future__ import annotations

import pickle
import threading

import pytest

from parjob import Parallel, delayed
from parjob.errors import TaskFailure
from parjob.tasks import Batch
from parjob.testing import fail_on, identity, square


def roundtrip(batch: Batch) -> Batch:
    return pickle.loads(pickle.dumps(batch))


@pytest.mark.parametrize(
    "tasks",
    [
        [delayed(square)(i) for i in range(5)],  # one function, one argument each
        [delayed(divmod)(i, 3) for i in range(5)],  # one function, several arguments
        [delayed(square)(2), delayed(identity)(3)],  # mixed functions
        [delayed(identity)(x=1), delayed(identity)(2)],  # keyword arguments
        [delayed(identity)((1, 2)), delayed(identity)(())],  # tuples as the one argument
        [],
    ],
)
def test_pickled_batch_runs_like_the_original(tasks: list) -> None:
    batch = Batch(10, tasks, ("sequential", 1))
    copy = roundtrip(batch)
    assert copy.start == 10 and len(copy) == len(tasks)
    assert copy().results == batch().results
    assert [(f, a, k) for f, a, k in copy.tasks] == tasks


def test_failure_in_a_compact_batch_names_its_task() -> None:
    copy = roundtrip(Batch(100, [delayed(fail_on)(i, 3) for i in range(6)], ("sequential", 1)))
    with pytest.raises(TaskFailure) as info:
        copy()
    assert info.value.index == 103 and info.value.function == "fail_on"
    assert info.value.remote


def test_delayed_reuses_and_switches_wrappers() -> None:
    assert delayed(square) is delayed(square)
    assert delayed(identity)(1) == (identity, (1,), {})
    assert delayed(square)(2) == (square, (2,), {})
    assert delayed(square).__name__ == "square" and delayed(square).__wrapped__ is square
    with pytest.raises(TypeError, match="callable"):
        delayed(3)  # type: ignore[arg-type]


def test_delayed_from_many_threads() -> None:
    functions = [square, identity, abs, str]
    errors: list[str] = []

    def make(function):  # type: ignore[no-untyped-def]
        for i in range(2000):
            task = delayed(function)(i)
            if task[0] is not function:
                errors.append(f"{function} got {task[0]}")

    threads = [threading.Thread(target=make, args=(f,)) for f in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def count_args(*args: object) -> int:
    return len(args)


class Scaler:
    """A callable whose instances all compare equal, though each scales differently."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    def __call__(self, x: int) -> int:
        return x * self.factor

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scaler)

    __hash__ = object.__hash__


def test_tasks_with_no_and_with_two_arguments_are_not_taken_for_one_each() -> None:
    tasks = [delayed(count_args)(), delayed(count_args)(1, 2)]
    assert roundtrip(Batch(0, tasks, ("sequential", 1)))().results == [0, 2]


def test_callables_that_compare_equal_keep_their_own_state() -> None:
    tasks = [delayed(Scaler(k))(10) for k in range(1, 4)]
    assert roundtrip(Batch(0, tasks, ("sequential", 1)))().results == [10, 20, 30]


def test_a_released_batch_still_names_its_tasks() -> None:
    batch = Batch(7, [delayed(square)(i) for i in range(3)], ("sequential", 1))
    batch.release()
    assert len(batch) == 3 and batch.start == 7 and batch.first_function is square
    assert batch.tasks == []  # the caller no longer holds the tasks' arguments


def test_delayed_looks_like_the_function_it_wraps() -> None:
    def documented(x: int) -> int:
        """Some docs."""
        return x

    documented.flag = "kept"  # type: ignore[attr-defined]
    wrapper = delayed(documented)
    assert wrapper.__name__ == "documented" and wrapper.__doc__ == "Some docs."
    assert wrapper.__qualname__ == documented.__qualname__
    assert wrapper.__module__ == documented.__module__ and wrapper.flag == "kept"  # type: ignore[attr-defined]
    scaler = Scaler(2)  # a callable object without a __name__ works too
    assert delayed(scaler)(4) == (scaler, (4,), {})


def test_each_task_has_its_own_writable_keyword_dict() -> None:
    # as in joblib: code that edits task tuples before handing them to Parallel works
    first, second = delayed(square)(1), delayed(square)(2)
    assert first[2] == {} and first[2] is not second[2]
    first[2]["unused"] = 1
    assert second[2] == {}
    func, args, kwargs = delayed(identity)(x=1)
    kwargs["x"] = 2
    assert Parallel(n_jobs=2, backend="threading")([(func, args, kwargs)]) == [2]
