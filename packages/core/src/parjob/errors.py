"""Exceptions parjob raises, and the record that carries a task's failure back to the caller."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import pickle
import threading
from typing import Any

from parjob.remote import Packed, dump_exception, format_traceback, load_exception


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


class TaskFailure(Exception):
    """Carries a failed task from the worker to the caller: which task, and its exception.

    Internal transport only: the caller re-raises the task's own exception, never this.
    From another process the exception travels pickled (``data``, see
    :mod:`parjob.remote`) and is unpickled in the caller when first read.
    """

    def __init__(
        self,
        index: int,
        function: str,
        exc: BaseException | None,
        text: str,
        type_name: str = "",
        remote: bool = False,
        data: Packed | None = None,
    ) -> None:
        super().__init__(index, function, text)
        self.index = index
        self.function = function
        self.text = text
        self.type_name = type_name or type(exc).__name__
        #: it ran in another process, so its frames are only in ``text``
        self.remote = remote
        self._exc = exc
        self._data = data
        #: why ``exc`` is None (it could not be pickled, or unpickled)
        self._lost = "could not be pickled" if exc is None and data is None else ""

    @classmethod
    def capture(cls, index: int, func: Any, exc: BaseException, portable: bool) -> TaskFailure:
        """Record ``exc``; when it must cross a process boundary, pickle it for the way."""
        text = format_traceback(exc)
        name = function_name(func)
        if not portable:
            return cls(index, name, exc, text, type(exc).__name__)
        return cls(index, name, None, text, type(exc).__name__, True, dump_exception(exc))

    @property
    def exc(self) -> BaseException | None:
        """The task's exception; None when it could not travel (its text still did)."""
        if self._exc is None and self._data is not None:
            self._exc, self._lost = load_exception(self._data)
            self._data = None
        return self._exc

    def fields(self) -> tuple[Any, ...]:
        """What rebuilds this record in another process: ``TaskFailure(*fields)``."""
        exc, data = self._exc, self._data
        if exc is not None and data is None and self.remote:  # loaded here, going on
            data = dump_exception(exc)
        if data is not None:
            exc = None
        return (self.index, self.function, exc, self.text, self.type_name, self.remote, data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (TaskFailure, self.fields())

    def reraise(self) -> BaseException:
        """The exception to raise in the caller: the task's own, chained to its traceback."""
        exc = self.exc
        if exc is None:
            first = self.text.strip().splitlines()[-1] if self.text.strip() else self.type_name
            exc = RuntimeError(f"{first} (the original exception {self._lost or 'was lost'})")
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


_reading = threading.Lock()


class TaskError:
    """What a failed task's result slot holds under ``on_error="collect"``.

    ``index`` is the task's position in the input, ``function`` its function's name,
    ``exception`` what it raised (a :class:`WorkerCrashedError` when its worker died, a
    :class:`TaskTimeoutError` when it ran past ``timeout``), ``traceback`` the worker-side
    traceback as text, ``attempts`` how many times it ran. ``reraise()`` raises the
    exception as ``on_error="raise"`` would have.
    """

    __slots__ = ("_exception", "_failure", "attempts", "function", "index", "traceback")

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
        self._exception: BaseException | None = exception
        self._failure: TaskFailure | None = None
        self.traceback = traceback
        self.attempts = attempts

    @classmethod
    def of(cls, failure: TaskFailure, attempts: int) -> TaskError:
        """The public record of a task's captured ``failure``; its exception is unpickled
        (and chained to the worker's traceback) when first read, so a run that collects
        many failures pays for none that nobody looks at."""
        made = cls.__new__(cls)
        made.index = failure.index
        made.function = failure.function
        made._exception = None
        made._failure = failure
        made.traceback = failure.text
        made.attempts = attempts
        return made

    @property
    def exception(self) -> BaseException:
        """What the task raised (read from its captured failure the first time)."""
        exc = self._exception
        if exc is None:
            with _reading:  # two threads reading at once get the same exception
                exc = self._exception
                if exc is None:
                    assert self._failure is not None
                    exc = self._exception = self._failure.reraise()
        return exc

    @exception.setter
    def exception(self, exc: BaseException) -> None:
        self._exception = exc

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
