"""Where joblib-style code relies on joblib's exact behaviour (issue 17), parjob matches it."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import pickle
import re
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from parjob import (
    Parallel,
    ParallelTimeoutError,
    SerializationError,
    delayed,
    parallel_backend,
    parallel_config,
)


def sleep_then(x: Any, seconds: float) -> Any:
    time.sleep(seconds)
    return x


def level_and_backend(_: Any = None) -> tuple[int, int, str]:
    """Nesting levels seen in a task and in a task of a nested call."""
    inner = Parallel(n_jobs=2, backend="threading")
    nested = inner(delayed(_levels)() for _ in range(1))[0]
    return inner.backend.nesting_level, nested, inner.backend.name


def _levels() -> int:
    return Parallel(n_jobs=1).backend.nesting_level


# -- item 2: timeouts -----------------------------------------------------------------
@pytest.mark.parametrize(
    "caught",
    [multiprocessing.TimeoutError, TimeoutError, concurrent.futures.TimeoutError],
    ids=["multiprocessing", "builtin", "concurrent.futures"],
)
def test_a_timeout_is_caught_by_every_timeout_class(caught: type[BaseException]) -> None:
    with pytest.raises(caught, match=r"timeout=0\.2") as info:
        Parallel(n_jobs=2, backend="threading", timeout=0.2)(
            delayed(sleep_then)(i, 0.6) for i in range(2)
        )
    assert type(info.value) is ParallelTimeoutError


def test_the_timeout_error_pickles() -> None:
    error = pickle.loads(pickle.dumps(ParallelTimeoutError("task 1 (f) did not finish")))
    assert isinstance(error, multiprocessing.TimeoutError) and "task 1" in str(error)


def test_timeout_with_tasks_inline_warns_that_it_is_not_used() -> None:
    with pytest.warns(UserWarning, match="'timeout' parameter will not be used"):
        assert Parallel(n_jobs=1, timeout=5)(delayed(abs)(-i) for i in range(3)) == [0, 1, 2]


# -- item 4: config blocks return their settings; nesting_level --------------------------
def test_parallel_config_yields_the_active_settings() -> None:
    with parallel_config("threading", n_jobs=3, verbose=0) as config:
        assert config["backend"].name == "threading"
        assert config["n_jobs"] == 3
        assert config["prefer"] is None and config["mmap_mode"] == "r"
        with parallel_config(n_jobs=2) as inner:
            assert inner["backend"].name == "threading" and inner["n_jobs"] == 2


def test_parallel_config_without_a_backend_yields_none_for_it() -> None:
    with parallel_config(n_jobs=2) as config:
        assert config["backend"] is None and config["n_jobs"] == 2


def test_parallel_backend_unpacks_backend_and_n_jobs() -> None:
    with parallel_backend("threading", n_jobs=2) as (backend, n_jobs):
        assert backend.name == "threading" and n_jobs == 2
        assert Parallel().backend.name == "threading"
    with parallel_backend("threading") as (backend, n_jobs):
        assert n_jobs == -1


def test_nesting_level_is_zero_in_the_caller_and_counts_down_the_tasks() -> None:
    assert Parallel(n_jobs=2, backend="threading").backend.nesting_level == 0
    out = Parallel(n_jobs=2, backend="threading")(delayed(level_and_backend)(i) for i in range(2))
    assert out == [(1, 2, "threading")] * 2


# -- item 5: prefer/require contradiction ---------------------------------------------
def test_prefer_processes_with_require_sharedmem_is_an_error() -> None:
    with pytest.raises(ValueError, match="inconsistent"):
        Parallel(prefer="processes", require="sharedmem")
    with pytest.raises(ValueError, match="inconsistent"):
        parallel_config(prefer="processes", require="sharedmem")
    with parallel_config(prefer="processes"), pytest.raises(ValueError, match="inconsistent"):
        Parallel(require="sharedmem")


# -- item 6: n_jobs=1 with a batch_size reads a batch before running it ----------------
def producer_consumer(n: int, **options: Any) -> list[str]:
    """The seeds' producer/consumer example inline: the order of reads and runs."""
    order: list[str] = []

    def producer() -> Iterator[int]:
        for i in range(n):
            order.append(f"Produced {i}")
            yield i

    def consume(x: int) -> int:
        order.append(f"Ran {x}")
        return x

    assert Parallel(n_jobs=1, **options)(delayed(consume)(i) for i in producer()) == list(range(n))
    return order


def read_then_ran(*chunks: list[int]) -> list[str]:
    return [
        line
        for chunk in chunks
        for line in [f"Produced {i}" for i in chunk] + [f"Ran {i}" for i in chunk]
    ]


def test_inline_run_reads_a_batch_of_the_input_before_running_it() -> None:
    assert producer_consumer(7, batch_size=3) == read_then_ran([0, 1, 2], [3, 4, 5], [6])


def test_inline_run_without_batch_size_reads_one_task_at_a_time() -> None:
    assert producer_consumer(3) == read_then_ran([0], [1], [2])


# -- item 7: the words callers match on --------------------------------------------------
def test_a_second_call_on_a_running_parallel_says_already_running() -> None:
    parallel = Parallel(n_jobs=2, backend="threading", return_as="generator")
    first = parallel(delayed(abs)(i) for i in range(10))
    with pytest.raises(RuntimeError, match=r"^This Parallel instance is already running"):
        parallel(delayed(abs)(i) for i in range(10))
    assert list(first) == list(range(10))


def test_an_unknown_backend_is_an_invalid_backend_value_error() -> None:
    with pytest.raises(ValueError, match=r"^Invalid backend: 'no-such'.*installed backends"):
        Parallel(backend="no-such")
    with pytest.raises(ValueError, match=r"^Invalid backend: 'no-such'"):
        parallel_config("no-such").__enter__()


def test_an_unpicklable_task_names_the_task_to_send() -> None:
    from parjob.backends.threads import ThreadingBackend

    class Pickling(ThreadingBackend):  # a thread pool that pickles, as a process pool must
        serializes = True

    lock = threading.Lock()
    with pytest.raises(pickle.PicklingError, match="the task to send") as info:
        Parallel(n_jobs=2, backend=Pickling())(delayed(id)(lock) for _ in range(3))
    assert isinstance(info.value, SerializationError)
    assert "positional argument 0" in str(info.value)


# -- item 8: verbose lines in joblib's layout ------------------------------------------
LINE = re.compile(r"^\[Parallel\(n_jobs=2\)\]: Done (?P<done>.+?) \| elapsed: (?P<t>.+)$")


def test_verbose_lines_have_joblibs_layout(capsys: pytest.CaptureFixture[str]) -> None:
    Parallel(n_jobs=2, verbose=100, backend="threading")(
        delayed(sleep_then)(i, 0.001) for i in range(10)
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if "Done" in line]
    # a generator has no length: counts are three wide, as in joblib's documented example
    assert lines[-1].startswith("[Parallel(n_jobs=2)]: Done  10 out of  10 | elapsed:    ")
    assert lines[-1].endswith("s finished")
    for line in lines:
        match = LINE.match(line)
        assert match, line
        assert re.fullmatch(r" +\d+\.\ds( remaining: +\d+\.\ds| finished)?", match["t"]), line
        assert re.fullmatch(r" *\d+ tasks      | *\d+ out of +\d+", match["done"]), line


def test_verbose_counts_are_as_wide_as_a_known_total(capsys: pytest.CaptureFixture[str]) -> None:
    Parallel(n_jobs=2, verbose=100, backend="threading")([delayed(abs)(i) for i in range(10)])
    last = capsys.readouterr().out.splitlines()[-1]
    assert "Done 10 out of 10 | elapsed:    " in last


def test_a_parallel_subclass_can_collect_the_messages() -> None:
    class Logged(Parallel):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.messages: list[str] = []

        def _print(self, msg: str) -> None:
            self.messages.append(msg)

    parallel = Logged(n_jobs=1, verbose=100)
    parallel([delayed(abs)(i) for i in range(100)])
    widths = {len(m.split("|")[0]) for m in parallel.messages if "out of" in m}
    assert len(widths) == 1 and parallel.messages[-1].endswith("finished")


def test_no_warning_without_timeout_inline() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Parallel(n_jobs=1)(delayed(abs)(i) for i in range(3))


# -- a generator left unfinished at the end of a with block is aborted, as in joblib --------
def slow_tasks(ran: list[int], n: int = 40) -> Iterator[Any]:
    """Tasks of 0.2 s each that record that they ran."""

    def slow(i: int) -> int:
        time.sleep(0.2)
        ran.append(i)
        return i

    return (delayed(slow)(i) for i in range(n))


def test_leaving_a_with_block_aborts_its_unfinished_generator() -> None:
    ran: list[int] = []
    with Parallel(n_jobs=2, backend="threading", return_as="generator") as parallel:
        out = parallel(slow_tasks(ran))
        assert next(out) == 0
    time.sleep(0.5)  # what was running finishes in the background; nothing else starts
    assert len(ran) < 10
    with pytest.raises(StopIteration):
        next(out)


def test_closing_a_fresh_generator_cancels_its_first_batches() -> None:
    ran: list[int] = []
    out = Parallel(n_jobs=2, backend="threading", return_as="generator")(slow_tasks(ran))
    out.close()
    time.sleep(0.5)
    assert len(ran) <= 2  # at most the batches already running
