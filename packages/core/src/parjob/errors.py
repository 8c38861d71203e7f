"""Exceptions parjob raises, and the record that carries a task's failure back to the caller."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import pickle
import traceback
from typing import Any


def function_name(func: Any) -> str:
    """How messages name a task's function: its qualified name, else its repr."""
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)


class RemoteTraceback(Exception):
    """The formatted traceback of a task that failed in another process or machine.

    It is set as the ``__cause__`` of the task's own exception, re-raised in the caller,
    so the worker-side frames show above the caller's.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


class SerializationError(pickle.PicklingError):
    """A task's function or arguments cannot be sent to a worker (raised before dispatch)."""


class ResultSerializationError(SerializationError, TypeError):
    """A task's result cannot be sent back from its worker: it does not pickle.

    A ``TypeError`` too, as the pickler's own error usually is, so code written for joblib
    (which raises that ``TypeError``) still catches it.
    """


class WorkerCrashedError(RuntimeError):
    """A worker died (killed, segfault, out of memory) while it was running tasks."""

    #: which worker died (a ``parjob.workerid`` id, or its ``"host:pid"`` part), where the
    #: backend could tell; else None
    worker: str | None = None


class BackendError(RuntimeError):
    """The backend itself cannot go on (e.g. its cluster client was closed during the call).

    A backend sets it on a batch's future; the caller gets it as it is, not as a worker crash.
    """


#: (on Python 3.11+ concurrent.futures.TimeoutError is the built-in TimeoutError)
_TIMEOUT_BASES = tuple(
    dict.fromkeys((multiprocessing.TimeoutError, TimeoutError, concurrent.futures.TimeoutError))
)


class ParallelTimeoutError(*_TIMEOUT_BASES):  # type: ignore[misc]
    """A task did not finish within ``timeout``.

    Caught by ``except TimeoutError``, ``except concurrent.futures.TimeoutError`` and, as
    joblib raises it, ``except multiprocessing.TimeoutError``.
    """


class UnknownBackendError(ValueError):
    """The backend name is not registered; the message lists those that are."""


class PluginError(RuntimeError):
    """A plugin could not be loaded or speaks a backend contract this core does not."""


#: formatted stacks by the frames they come from: a task failing many times in one place
#: (under on_error="collect") is formatted once; only its last line (the message) differs
_stacks: dict[tuple[Any, ...], str] = {}
_STACKS_KEPT = 256


def format_traceback(exc: BaseException) -> str:
    """``exc`` with its traceback, as ``traceback.format_exception`` words it."""
    if exc.__cause__ is not None or (exc.__context__ is not None and not exc.__suppress_context__):
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    key = []
    tb = exc.__traceback__
    while tb is not None:
        key.append((tb.tb_frame.f_code, tb.tb_lineno, tb.tb_lasti))
        tb = tb.tb_next
    stack = _stacks.get(tuple(key))
    if stack is None:
        stack = "".join(traceback.format_tb(exc.__traceback__))
        if len(_stacks) < _STACKS_KEPT:
            _stacks[tuple(key)] = stack
    head = "Traceback (most recent call last):\n" if key else ""
    return head + stack + "".join(traceback.format_exception_only(type(exc), exc))


def _pickles(exc: BaseException) -> bool:
    """Whether ``exc`` survives the way back to the caller, which pickles with cloudpickle
    (it carries exception classes defined in __main__ or a notebook by value). The standard
    pickler is tried first: much faster, and enough for most exceptions."""
    try:
        pickle.loads(pickle.dumps(exc))
        return True
    except Exception:
        pass
    import cloudpickle

    try:
        pickle.loads(cloudpickle.dumps(exc))
    except Exception:
        return False
    return True


class TaskFailure(Exception):
    """Carries a failed task from the worker to the caller: which task, and its exception.

    Internal transport only: the caller re-raises the task's own exception, never this.
    """

    def __init__(
        self,
        index: int,
        function: str,
        exc: BaseException | None,
        text: str,
        type_name: str = "",
        remote: bool = False,
    ) -> None:
        super().__init__(index, function, text)
        self.index = index
        self.function = function
        self.exc = exc
        self.text = text
        self.type_name = type_name or type(exc).__name__
        #: it ran in another process, so its frames are only in ``text``
        self.remote = remote

    @classmethod
    def capture(cls, index: int, func: Any, exc: BaseException, portable: bool) -> TaskFailure:
        """Record ``exc``; when it must cross a process boundary, check that it can."""
        text = format_traceback(exc)
        name = function_name(func)
        carried: BaseException | None = exc
        if portable:
            # its frames travel as text; a traceback object would be pickled too where
            # tblib is installed (dask does), and rebuilt at a high cost on each side
            exc.__traceback__ = None
            if not _pickles(exc):
                carried = None
        return cls(index, name, carried, text, type(exc).__name__, portable)

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (self.index, self.function, self.exc, self.text, self.type_name, self.remote)
        return (TaskFailure, fields)

    def reraise(self) -> BaseException:
        """The exception to raise in the caller: the task's own, chained to its traceback."""
        exc = self.exc
        if exc is None:
            first = self.text.strip().splitlines()[-1] if self.text.strip() else self.type_name
            exc = RuntimeError(f"{first} (the original exception could not be pickled)")
        if self.remote:  # show the worker's frames, which the caller's traceback lacks
            exc.__cause__ = RemoteTraceback(self.text)
        exc.__suppress_context__ = True  # the transport (this record) is not worth showing
        note = f"parjob: raised by task {self.index} ({self.function})"
        if hasattr(exc, "add_note") and note not in getattr(exc, "__notes__", ()):
            exc.add_note(note)
        return exc


class TaskTimeoutError(ParallelTimeoutError):
    """One task ran past ``timeout`` under ``on_error="collect"`` or ``"skip"``.

    The run goes on without it; it is what that task's :class:`TaskError` holds.
    """


class TaskError:
    """What a failed task's result slot holds under ``on_error="collect"``.

    ``index`` is the task's position in the input, ``function`` its function's name,
    ``exception`` what it raised (a :class:`WorkerCrashedError` when its worker died, a
    :class:`TaskTimeoutError` when it ran past ``timeout``), ``traceback`` the worker-side
    traceback as text, ``attempts`` how many times it ran. ``reraise()`` raises the
    exception as ``on_error="raise"`` would have.
    """

    __slots__ = ("_failure", "attempts", "exception", "function", "index", "traceback")

    def __init__(
        self,
        index: int,
        function: str,
        exception: BaseException,
        traceback: str = "",
        attempts: int = 1,
    ) -> None:
        self.index = index
        self.function = function
        self.exception = exception
        self.traceback = traceback
        self.attempts = attempts

    @classmethod
    def of(cls, failure: TaskFailure, attempts: int) -> TaskError:
        """The public record of a task's captured ``failure``."""
        return cls(failure.index, failure.function, failure.reraise(), failure.text, attempts)

    def reraise(self) -> None:
        """Raise the task's exception (chained to the worker's traceback, when remote)."""
        raise self.exception

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (self.index, self.function, self.exception, self.traceback, self.attempts)
        return (TaskError, fields)

    def __repr__(self) -> str:
        exc = self.exception
        tries = f", attempts={self.attempts}" if self.attempts != 1 else ""
        return (
            f"<TaskError task {self.index} ({self.function}): {type(exc).__name__}: {exc}{tries}>"
        )
