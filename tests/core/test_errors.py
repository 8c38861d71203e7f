"""Task errors, crashed workers and unpicklable input, on a backend that crosses processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import pytest

from parjob import (
    Backend,
    Parallel,
    RemoteTraceback,
    SerializationError,
    WorkerCrashedError,
    delayed,
    plugins,
    register_parallel_backend,
)
from parjob.testing import fail_on, identity, square


class Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("cannot travel")
        self.lock = threading.Lock()


def raise_unpicklable(_: int) -> None:
    raise Unpicklable()


def _refuse(text: str) -> Exception:
    raise TypeError(f"refused: {text}")


class WontLoad(Exception):
    """Pickles, but does not unpickle (as an exception whose ``__init__`` needs more than
    ``args`` would not, where tblib, which dask installs, does not rebuild it otherwise)."""

    def __reduce__(self) -> tuple[object, ...]:
        return (_refuse, self.args)


def raise_wont_load(_: int) -> None:
    raise WontLoad("half a story")


def _local_class() -> type[Exception]:
    class Local(Exception):
        """Only cloudpickle carries it: the standard pickler cannot find it by name."""

    return Local


Local = _local_class()


def raise_local(x: int) -> None:
    raise Local(f"local {x}")


class PicklingThreads(Backend):
    """Threads that pickle batches both ways, the way a process backend does."""

    name = "pickling-threads"

    def start(self, n_jobs, settings):  # type: ignore[no-untyped-def]
        self.pool = ThreadPoolExecutor(n_jobs)

    def submit(self, work):  # type: ignore[no-untyped-def]
        import pickle

        def run():  # type: ignore[no-untyped-def]
            copy = pickle.loads(pickle.dumps(work))
            try:
                return pickle.loads(pickle.dumps(copy()))
            except Exception as exc:
                raise pickle.loads(pickle.dumps(exc)) from None

        return self.pool.submit(run)

    def stop(self) -> None:
        self.pool.shutdown()

    abort = stop


class Crashing(PicklingThreads):
    name = "crashing"

    def submit(self, work):  # type: ignore[no-untyped-def]
        future: Future = Future()
        future.set_exception(BrokenProcessPool("worker exited with code -9 (SIGKILL)"))
        return future


@pytest.fixture(autouse=True)
def backends() -> Iterator[None]:
    register_parallel_backend("pickling-threads", PicklingThreads)
    register_parallel_backend("crashing", Crashing)
    yield
    plugins._load().runtime_backends.pop("pickling-threads")
    plugins._load().runtime_backends.pop("crashing")


def test_remote_error_keeps_type_and_worker_traceback() -> None:
    with pytest.raises(ValueError, match="bad value 2") as info:
        Parallel(n_jobs=2, backend="pickling-threads")(delayed(fail_on)(i, 2) for i in range(6))
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "fail_on" in str(cause) and "raise ValueError" in str(cause)
    if hasattr(info.value, "__notes__"):
        assert "task 2 (fail_on)" in info.value.__notes__[0]


def test_unpicklable_exception_becomes_a_runtime_error_with_its_text() -> None:
    with pytest.raises(RuntimeError, match="Unpicklable: cannot travel"):
        Parallel(n_jobs=2, backend="pickling-threads")(
            delayed(raise_unpicklable)(i) for i in range(2)
        )


def test_an_exception_that_does_not_unpickle_becomes_a_runtime_error_with_its_text() -> None:
    with pytest.raises(RuntimeError, match=r"WontLoad: half a story.*could not be unpickled"):
        Parallel(n_jobs=2, backend="pickling-threads")(
            delayed(raise_wont_load)(i) for i in range(2)
        )
    (error,) = Parallel(n_jobs=2, backend="pickling-threads", on_error="collect")(
        [delayed(raise_wont_load)(0)]
    )
    assert isinstance(error.exception, RuntimeError) and "WontLoad" in error.traceback


def test_an_exception_only_cloudpickle_carries_comes_back_over_a_plain_pickle_transport() -> None:
    # the backend pickles results with the standard pickler; the exception rode inside as
    # bytes cloudpickle made
    with pytest.raises(Local, match="local 1"):
        Parallel(n_jobs=2, backend="pickling-threads")(delayed(raise_local)(i) for i in range(1, 3))
    out = Parallel(n_jobs=2, backend="pickling-threads", on_error="collect")(
        delayed(raise_local)(i) for i in range(2)
    )
    assert [type(error.exception) for error in out] == [Local, Local]


def test_unpicklable_argument_is_named_before_dispatch() -> None:
    lock = threading.Lock()
    with pytest.raises(SerializationError) as info:
        Parallel(n_jobs=2, backend="pickling-threads")(
            [delayed(identity)(1), delayed(identity)(2, lock)]
        )
    message = str(info.value)
    assert "task 1 (identity)" in message and "positional argument 1" in message
    assert "lock" in message


def test_unpicklable_keyword_is_named() -> None:
    with pytest.raises(SerializationError, match="keyword argument 'x'"):
        Parallel(n_jobs=2, backend="pickling-threads")([delayed(identity)(1, x=threading.Lock())])


def test_crashed_worker_names_the_tasks() -> None:
    with pytest.raises(WorkerCrashedError) as info:
        Parallel(n_jobs=2, backend="crashing", batch_size=3)(delayed(square)(i) for i in range(9))
    message = str(info.value)
    assert "tasks 0-2 (square" in message and "SIGKILL" in message
    assert isinstance(info.value.__cause__, BrokenProcessPool)


def test_inline_error_names_the_task() -> None:
    with pytest.raises(ValueError) as info:
        Parallel(n_jobs=1)(delayed(fail_on)(i, 4) for i in range(6))
    if hasattr(info.value, "__notes__"):
        assert "task 4 (fail_on)" in info.value.__notes__[0]


def test_error_in_the_task_generator_itself_propagates() -> None:
    def tasks():  # type: ignore[no-untyped-def]
        yield delayed(square)(1)
        raise KeyError("producer broke")

    with pytest.raises(KeyError, match="producer broke"):
        Parallel(n_jobs=2, backend="threading")(tasks())
