"""Tasks and batches: what ``delayed`` builds and what workers run.

A task is the tuple ``(function, args, kwargs)`` (the form joblib-style code already
passes around) plus its position in the input. A batch is a run of consecutive tasks that
one worker executes in one go; it is a plain picklable callable, so any executor can run it.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import cloudpickle

from parjob import config
from parjob.errors import TaskFailure

Task = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def delayed(function: Callable[..., Any]) -> Delayed:
    """Wrap ``function`` so that calling it records the call as a task instead of running it.

    ``delayed(f)(x, y=1)`` returns ``(f, (x,), {"y": 1})``, which ``Parallel`` runs.
    """
    if not callable(function):
        raise TypeError(f"delayed() takes a callable, got {function!r}")
    return Delayed(function)


class Delayed:
    # ``delayed(f)``: calling it makes a task; it looks like ``f`` (name, docs, __wrapped__).
    # A small class rather than functools.wraps on a closure: users build one per task in
    # a generator expression, and copying the wrapper attributes would dominate the cost
    # of tiny tasks.

    __slots__ = ("__wrapped__",)
    __doc__ = property(lambda self: self.__wrapped__.__doc__)  # type: ignore[assignment]

    def __init__(self, function: Callable[..., Any]) -> None:
        self.__wrapped__ = function

    def __call__(self, *args: Any, **kwargs: Any) -> Task:
        return (self.__wrapped__, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name not in (
            "__name__",
            "__qualname__",
            "__doc__",
            "__module__",
        ):
            raise AttributeError(name)
        return getattr(self.__wrapped__, name)

    def __repr__(self) -> str:
        return f"delayed({self.__wrapped__!r})"


class BatchResult(NamedTuple):
    """What a batch returns: its tasks' results and how long they took in the worker."""

    results: list[Any]
    seconds: float


class Batch:
    """Consecutive tasks starting at input position ``start``, run by one worker."""

    __slots__ = ("nested", "portable", "start", "tasks")

    def __init__(self, start: int, tasks: list[Task], nested: tuple[str, int]) -> None:
        self.start = start
        self.tasks = tasks
        #: backend name and n_jobs that Parallel calls made by these tasks default to
        self.nested = nested
        #: set when the batch crossed a process boundary (exceptions must pickle)
        self.portable = False

    def __len__(self) -> int:
        return len(self.tasks)

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.start, self.tasks, self.nested)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.start, self.tasks, self.nested = state
        self.portable = True

    def __call__(self) -> BatchResult:
        token = config.enter_worker(*self.nested)
        results: list[Any] = []
        append = results.append
        func: Any = None
        failure = None
        began = time.perf_counter()
        try:
            for func, args, kwargs in self.tasks:
                append(func(*args, **kwargs))
        except BaseException as exc:
            failure = TaskFailure.capture(self.start + len(results), func, exc, self.portable)
        finally:
            config.leave_worker(token)
        if failure is not None:
            raise failure  # outside the handler: no __context__ that would have to pickle
        return BatchResult(results, time.perf_counter() - began)


class EncodedBatch:
    """A batch already pickled by the caller: workers unpickle and run it.

    Pickling in the caller lets the core name an unpicklable argument before dispatch,
    and lets a backend choose the pickler (``Backend.encode``). cloudpickle is used so
    that lambdas and functions defined in ``__main__`` or a notebook reach the worker.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    @classmethod
    def of(cls, batch: Batch, pickler: Callable[[Any], bytes] | None = None) -> EncodedBatch:
        return cls((pickler or _dumps)(batch))

    def __getstate__(self) -> bytes:
        return self.data

    def __setstate__(self, data: bytes) -> None:
        self.data = data

    def __call__(self) -> BatchResult:
        batch: Batch = pickle.loads(self.data)
        return batch()


def _dumps(obj: Any) -> bytes:
    return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
