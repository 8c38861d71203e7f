"""Tasks and batches: what ``delayed`` builds and what workers run.

A task is the tuple ``(function, args, kwargs)`` (the form joblib-style code already
passes around) plus its position in the input. A batch is a run of consecutive tasks that
one worker executes in one go; it is a plain picklable callable, so any executor can run it.
"""

from __future__ import annotations

import contextlib
import gc
import operator
import pickle
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from parjob import config
from parjob.errors import TaskFailure

Task = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


#: ``delayed(f)`` is usually called once per task with the same ``f``: reuse the last one
_last: tuple[Any, Any] = (None, None)


def delayed(function: Callable[..., Any]) -> Delayed:
    """Wrap ``function`` so that calling it records the call as a task instead of running it.

    ``delayed(f)(x, y=1)`` returns ``(f, (x,), {"y": 1})``, which ``Parallel`` runs.
    """
    global _last
    last_function, last_delayed = _last
    if function is last_function:
        return last_delayed
    if not callable(function):
        raise TypeError(f"delayed() takes a callable, got {function!r}")
    made = Delayed(function)
    _last = (function, made)  # one assignment: safe when threads call delayed() too
    return made


def forget_last_delayed() -> None:
    """Drop the reference ``delayed`` keeps to the last function (end of a call)."""
    global _last
    _last = (None, None)


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

    __slots__ = ("_arguments", "_function", "_single", "_tasks", "nested", "portable", "start")

    def __init__(self, start: int, tasks: list[Task], nested: tuple[str, int]) -> None:
        self.start = start
        self._tasks: list[Task] | None = tasks
        #: backend name and n_jobs that Parallel calls made by these tasks default to
        self.nested = nested
        #: set when the batch crossed a process boundary (exceptions must pickle)
        self.portable = False
        self._function: Any = None
        #: after unpickling a uniform batch: each task's args (or its one argument)
        self._arguments: list[Any] | None = None
        self._single = False

    @property
    def tasks(self) -> list[Task]:
        """The batch's tasks as ``(function, args, kwargs)`` tuples."""
        if self._tasks is None:
            arguments = self._arguments or ()
            if self._single:
                arguments = [(value,) for value in arguments]
            self._tasks = [(self._function, args, {}) for args in arguments]
        return self._tasks

    def __len__(self) -> int:
        return len(self.tasks) if self._arguments is None else len(self._arguments)

    def __getstate__(self) -> tuple[Any, ...]:
        # The usual batch is one function over many positional arguments: pickle the
        # function once and the arguments as a list (no empty kwargs dict per task), and,
        # when each task has one argument, the bare values (no tuple per task). Pickling
        # and unpickling tiny tasks gets several times faster.
        # (map and itemgetter keep these passes over the tasks in C; ids compare identity)
        tasks = self.tasks
        if len(set(map(id, map(_first, tasks)))) != 1 or any(map(_third, tasks)):
            return (self.start, tasks, self.nested)
        function = tasks[0][0]
        arguments = list(map(_second, tasks))
        single = set(map(len, arguments)) == {1}
        if single:
            arguments = list(map(_first, arguments))
        return (self.start, function, arguments, self.nested, single)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        if len(state) == 5:
            self.start, self._function, self._arguments, self.nested, self._single = state
            self._tasks = None
        else:
            self.start, self._tasks, self.nested = state
            self._function = self._arguments = None
            self._single = False
        self.portable = True

    def __call__(self) -> BatchResult:
        token = config.enter_worker(*self.nested)
        results: list[Any] = []
        append = results.append
        func: Any = self._function
        failure = None
        began = time.perf_counter()
        try:
            if self._single:
                for value in self._arguments:  # type: ignore[union-attr]
                    append(func(value))
            elif self._arguments is not None:
                for args in self._arguments:
                    append(func(*args))
            else:
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

    def load(self) -> Batch:
        """Unpickle the batch, with the cyclic garbage collector paused.

        Unpickling many small tasks creates a few containers per task; the collector,
        triggered every few hundred of them, would take most of the time and free nothing.
        """
        with paused_gc():
            return pickle.loads(self.data)  # type: ignore[no-any-return]

    def __call__(self) -> BatchResult:
        return self.load()()


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while many short-lived containers are made."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_first = operator.itemgetter(0)
_second = operator.itemgetter(1)
_third = operator.itemgetter(2)


def _dumps(obj: Any) -> bytes:
    import cloudpickle  # only callers pickle batches; workers just load them

    return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
