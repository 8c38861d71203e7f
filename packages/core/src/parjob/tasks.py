"""Tasks and batches: what ``delayed`` builds and what workers run.

A task is the tuple ``(function, args, kwargs)`` (the form joblib-style code already
passes around) plus its position in the input. A batch is a run of consecutive tasks that
one worker executes in one go; it is a plain picklable callable, so any executor can run it.
"""

from __future__ import annotations

import functools
import gc
import itertools
import operator
import pickle
import time
import types
from collections.abc import Callable
from typing import Any, NamedTuple

from parjob import seeds, workerside
from parjob.capture import WithFailures, run_keeping_failures
from parjob.errors import TaskFailure
from parjob.workerid import worker_id

Task = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


#: ``delayed(f)`` is usually called once per task with the same ``f``: reuse the last one
_last: tuple[Any, Any] = (None, None)


def delayed(function: Callable[..., Any]) -> Callable[..., Task]:
    """Wrap ``function`` so that calling it records the call as a task instead of running it.

    ``delayed(f)(x, y=1)`` returns ``(f, (x,), {"y": 1})``, which ``Parallel`` runs.
    """
    global _last
    last_function, last_delayed = _last
    if function is last_function:
        return last_delayed  # type: ignore[no-any-return]
    if not callable(function):
        raise TypeError(f"delayed() takes a callable, got {function!r}")
    made = _wrapper(function)
    _last = (function, made)  # one assignment: safe when threads call delayed() too
    return made


def forget_last_delayed() -> None:
    """Drop the reference ``delayed`` keeps to the last function (end of a call), unless
    its module (or the namespace it was defined in) holds that very function: then the
    next call's ``delayed`` reuses it."""
    global _last
    function = _last[0]
    if function is None:
        return
    if type(function) is not types.FunctionType or (
        function.__globals__.get(function.__name__) is not function
    ):
        _last = (None, None)


class _NoKeywords(dict):  # type: ignore[type-arg]
    """The keyword arguments of the tasks a worker rebuilds from a uniform batch (no
    keywords): one shared, read-only empty dict. It copies and pickles as a plain one."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a task's keyword arguments are read-only; copy them with dict() first")

    __setitem__ = __delitem__ = __ior__ = _read_only
    update = setdefault = pop = popitem = clear = _read_only  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, ())


_NO_KEYWORDS = _NoKeywords()

#: what ``delayed(f)`` copies from ``f`` (functools.wraps also copies ``__dict__``)
_LOOKS = ("__module__", "__name__", "__qualname__", "__doc__")


def _wrapper(function: Callable[..., Any]) -> Callable[..., Task]:
    # A closure, not an object with ``__call__``: users call it once per task in a
    # generator expression, and a plain function is the cheapest thing Python can call.
    def task(*args: Any, **kwargs: Any) -> Task:
        # kwargs is a new dict on every call: each task owns a writable one, as in joblib
        return (function, args, kwargs)

    for name in _LOOKS:
        try:  # noqa: SIM105 - contextlib.suppress costs more than these calls
            setattr(task, name, getattr(function, name))
        except (AttributeError, TypeError):  # objects may lack a name
            pass
    looks = getattr(function, "__dict__", None)
    if looks:
        task.__dict__.update(looks)
    task.__wrapped__ = function  # type: ignore[attr-defined]
    return task


class BatchResult(NamedTuple):
    """What a batch returns: its tasks' results and how long they took in the worker.

    A batch with a ``budget`` may return the results of its first tasks only.
    """

    results: list[Any]
    seconds: float
    #: which worker ran it (``parjob.workerid.worker_id``) and when it began (wall clock)
    worker: str = ""
    began: float = 0.0
    #: what the worker's tasks printed and logged, for the caller to replay (see
    #: ``parjob.relay``); None when nothing was relayed
    relayed: list[tuple[str, Any]] | None = None


class Batch:
    """Consecutive tasks starting at input position ``start``, run by one worker."""

    __slots__ = (
        "_arguments",
        "_function",
        "_single",
        "_tasks",
        "budget",
        "first_function",
        "keep_going",
        "nested",
        "portable",
        "size",
        "start",
    )

    def __init__(
        self,
        start: int,
        tasks: list[Task],
        nested: tuple[str, int],
        budget: float | None = None,
    ) -> None:
        self.start = start
        self._tasks: list[Task] | None = tasks
        #: what error messages name once the tasks themselves are released
        self.size = len(tasks)
        self.first_function: Any = tasks[0][0] if tasks else None
        #: backend name and n_jobs that Parallel calls made by these tasks default to
        self.nested = nested
        #: seconds after which the batch stops early, returning the results of its first
        #: tasks only; the caller sends the rest again (sizes probed before any timing)
        self.budget = budget
        #: a failing task does not end the batch: its slot holds the captured failure (a
        #: ``TaskFailure``) and the next task runs (set by the runner when the call has a
        #: failure policy other than raise-at-once; see ``parjob.capture``)
        self.keep_going = False
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
            self._tasks = [(self._function, args, _NO_KEYWORDS) for args in arguments]
        return self._tasks

    def __len__(self) -> int:
        return self.size

    @property
    def has_tasks(self) -> bool:
        """Whether the tasks are still here (the caller releases them once encoded)."""
        return self._tasks is not None or self._arguments is not None

    def release(self) -> None:
        """Drop the tasks once they are encoded: the caller keeps only what messages name.

        Freeing them at once (rather than at the end of the batch) also keeps the cyclic
        garbage collector from scanning every in-flight task again and again.
        """
        self._tasks = self._arguments = None

    def __getstate__(self) -> tuple[Any, ...]:
        # The usual batch is one function over many positional arguments: pickle the
        # function once and the arguments as a list (no empty kwargs dict per task), and,
        # when each task has one argument, the bare values (no tuple per task). Pickling
        # and unpickling tiny tasks gets several times faster.
        # (map, itemgetter and count keep these passes over the tasks in C)
        # (a batch that keeps going after a failure says so in one more, last, field)
        tasks = self.tasks
        more = (True,) if self.keep_going else ()
        if not tasks or not _one_function(list(map(_first, tasks))) or any(map(_third, tasks)):
            return (self.start, tasks, self.nested, self.budget, *more)
        arguments = list(map(_second, tasks))
        # every task has exactly one argument: none has none, and they add up to one each
        single = arguments.count(()) == 0 and sum(map(len, arguments)) == len(arguments)
        if single:
            arguments = list(map(_first, arguments))
        return (self.start, tasks[0][0], arguments, self.nested, single, self.budget, *more)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.keep_going = len(state) in (5, 7)
        if self.keep_going:
            state = state[:-1]
        if len(state) == 6:
            self.start, self._function, self._arguments, self.nested, self._single = state[:5]
            self._tasks = None
            self.size = len(self._arguments)  # type: ignore[arg-type]
            self.first_function = self._function
        else:
            self.start, self._tasks, self.nested = state[:3]
            self._function = self._arguments = None
            self._single = False
            self.size = len(self._tasks)  # type: ignore[arg-type]
            self.first_function = self._tasks[0][0] if self._tasks else None
        self.budget = state[-1]
        self.portable = True

    def __call__(self) -> BatchResult:
        try:
            token = workerside.enter(self.nested, self.portable)
        except Exception as exc:  # the initializer, or a library's captured settings
            failure = TaskFailure.capture(self.start, _WorkerSetup(), exc, self.portable)
        else:
            return self._run(token)
        raise failure

    def _run(self, token: workerside.WorkerToken) -> BatchResult:
        results: list[Any] = []
        append = results.append
        func: Any = self._function
        failure = None
        relayed = None
        began = time.perf_counter()
        began_at = time.time()
        entered = token[2]
        seeded = entered is not None and entered.seed is not None
        try:
            reseed = watched = None
            if seeded:
                before = seeds.begin(entered.seed, self.start, results)
                reseed = entered.reseed
                if reseed is None:
                    watched = seeds.watch(self.first_function)
            if self.keep_going:
                failed = run_keeping_failures(self, append, reseed)
                if failed:
                    results = WithFailures(results, failed)
            elif reseed is not None:
                deadline = None if self.budget is None else began + self.budget
                index = self.start
                for func, args, kwargs in self.tasks:
                    seeds.seed_globals(reseed, index)
                    append(func(*args, **kwargs))
                    index += 1
                    if deadline is not None and time.perf_counter() >= deadline:
                        break
            elif self.budget is not None:
                deadline = began + self.budget
                for func, args, kwargs in self.tasks:
                    append(func(*args, **kwargs))
                    if time.perf_counter() >= deadline:
                        break
            elif self._single:
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
            if entered is not None:
                if seeded:
                    seeds.end(before)
                relayed = workerside.leave(token)
            else:
                workerside.leave(token)
        if watched is not None and (warning := seeds.drew(watched)) is not None:
            relayed = [*(relayed or ()), ("warning", (seeds.SeedWarning, warning))]
        if failure is not None:
            raise failure  # outside the handler: no __context__ that would have to pickle
        seconds = time.perf_counter() - began
        return _new_result(BatchResult, (results, seconds, worker_id(), began_at, relayed))


class _WorkerSetup:
    """Names, in error messages, what failed before a batch's first task: the worker's
    setup (``initializer=``, or settings carried by the ``capture_context`` hook)."""

    __qualname__ = __name__ = "the worker setup (initializer or captured context)"


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


class paused_gc:  # (lower case: used as a function, ``with paused_gc():``)
    """Pause the cyclic garbage collector while many short-lived containers are made.

    A class rather than ``contextlib.contextmanager``: it is entered at least once per
    call, and costs a third as much."""

    __slots__ = ("_enabled",)

    def __enter__(self) -> None:
        self._enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._enabled:
            gc.enable()


def _one_function(functions: list[Any]) -> bool:
    """Whether every item of ``functions`` is the very same object as the first."""
    first = functions[0]
    if type(first) in _COMPARED_BY_IDENTITY:
        return functions.count(first) == len(functions)  # equality is identity here
    return all(map(operator.is_, functions, itertools.repeat(first)))


#: callables whose ``==`` is ``is`` (methods compare their ``__self__`` by identity)
_COMPARED_BY_IDENTITY = frozenset(
    {types.FunctionType, types.BuiltinFunctionType, types.MethodType, functools.partial}
)

#: makes a BatchResult from its fields without the Python-level ``__new__`` (per batch)
_new_result = tuple.__new__
_first = operator.itemgetter(0)
_second = operator.itemgetter(1)
_third = operator.itemgetter(2)


def _dumps(obj: Any) -> bytes:
    import cloudpickle  # only callers pickle batches; workers just load them

    return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
