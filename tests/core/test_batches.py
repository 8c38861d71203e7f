"""Batches survive pickling in each of their compact forms, and delayed() stays correct."""

from __future__ import annotations

import pickle
import threading

import pytest

from parjob import delayed
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
