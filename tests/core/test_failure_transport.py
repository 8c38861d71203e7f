"""How a failed task's exception and traceback travel back: formatted and pickled once in
the worker, unpickled in the caller when first read (see parjob.remote)."""

from __future__ import annotations

import builtins
import pickle
import threading
import traceback
from typing import Any

import pytest

from parjob import Parallel, TaskError, delayed
from parjob.errors import TaskFailure
from parjob.remote import format_traceback, last_line


class Quiet(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no words")


class Noted(ValueError):
    pass


def _noted() -> Noted:
    error = Noted("with a note")
    if hasattr(error, "add_note"):
        error.add_note("first note\nover two lines")
    return error


def _group() -> BaseException:
    kind = getattr(builtins, "ExceptionGroup", None)
    if kind is None:
        return ValueError("no groups before Python 3.11")
    return kind("two", [ValueError(1), KeyError(2)])  # type: ignore[no-any-return]


EXCEPTIONS = [
    ValueError("bad value 7"),
    ValueError(),
    KeyError("a key"),
    OSError(2, "No such file or directory", "/nowhere"),
    pickle.PicklingError("in a module"),
    Quiet(),
    _noted(),
    SyntaxError("invalid syntax", ("f.py", 3, 5, "x = = 1\n")),
    _group(),
]


@pytest.mark.parametrize("exc", EXCEPTIONS, ids=lambda e: type(e).__name__)
def test_the_last_line_is_worded_as_traceback_does(exc: BaseException) -> None:
    assert last_line(exc) == "".join(traceback.format_exception_only(type(exc), exc))


def _raise(exc: BaseException) -> None:
    raise exc


@pytest.mark.parametrize("exc", EXCEPTIONS, ids=lambda e: type(e).__name__)
def test_a_traceback_is_formatted_as_traceback_does(exc: BaseException) -> None:
    for _ in range(2):  # the second time, the stack comes from the cache
        try:
            _raise(exc)
        except BaseException as raised:
            expected = "".join(
                traceback.format_exception(type(raised), raised, raised.__traceback__)
            )
            assert format_traceback(raised) == expected


def test_a_chained_traceback_shows_its_cause() -> None:
    try:
        try:
            _raise(KeyError("inner"))
        except KeyError as inner:
            raise ValueError("outer") from inner
    except ValueError as raised:
        text = format_traceback(raised)
    assert "KeyError: 'inner'" in text and text.endswith("ValueError: outer\n")


def fail_on(x: int, bad: int) -> int:
    if x == bad:
        raise ValueError(f"bad value {x}")
    return x


def test_a_captured_failure_travels_as_bytes_and_comes_back_whole() -> None:
    try:
        fail_on(3, 3)
    except ValueError as exc:
        failure = TaskFailure.capture(3, fail_on, exc, portable=True)
    again = pickle.loads(pickle.dumps(failure))
    error = again.reraise()
    assert type(error) is ValueError and str(error) == "bad value 3"
    assert "fail_on" in str(error.__cause__) and "bad value 3" in again.text
    # once read in the caller, it can travel on (e.g. from a nested call's worker)
    assert str(pickle.loads(pickle.dumps(again)).reraise()) == "bad value 3"


def test_a_collected_exception_is_read_once_and_is_the_same_object() -> None:
    (error,) = Parallel(n_jobs=2, backend="loky", on_error="collect")([delayed(fail_on)(1, 1)])
    seen: list[Any] = []
    threads = [threading.Thread(target=lambda: seen.append(error.exception)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(exc) for exc in seen}) == 1 and seen[0] is error.exception
    assert isinstance(error.exception, ValueError) and "bad value 1" in error.traceback
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, TaskError) and str(again.exception) == "bad value 1"
    with pytest.raises(ValueError, match="bad value 1") as info:
        error.reraise()
    assert "raise ValueError" in str(info.value.__cause__)


def test_a_batchs_failures_travel_back_in_their_slots() -> None:
    from parjob.tasks import Batch

    batch = Batch(10, [(fail_on, (i % 4, 1), {}) for i in range(8)], ("loky", 2))
    batch.keep_going = True
    sent = pickle.loads(pickle.dumps(batch))  # as a worker gets it
    outcome = sent()
    back = pickle.loads(pickle.dumps(outcome))
    assert back.results.failed == outcome.results.failed == [1, 5]
    kinds = [type(value).__name__ for value in back.results]
    assert kinds == ["int", "TaskFailure", "int", "int"] * 2
    failures = [back.results[1], back.results[5]]
    assert [failure.index for failure in failures] == [11, 15]
    assert [str(failure.reraise()) for failure in failures] == ["bad value 1"] * 2
    # in the worker's own process, the slots hold the failures as they were captured
    assert [type(value).__name__ for value in outcome.results] == kinds
