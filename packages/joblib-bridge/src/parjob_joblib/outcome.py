"""A joblib batch's outcome from its parjob Future: the result, or the error to raise.

The same reading of a batch's Future as the core's runner: a task's own exception comes
back as itself with the worker's traceback; anything else that failed the batch (a dead
worker, a lost connection) is a ``WorkerCrashedError``, and a result that cannot be sent
back a ``ResultSerializationError``.
"""

from __future__ import annotations

import pickle
from concurrent.futures import CancelledError, Future
from typing import Any

from parjob.errors import (
    BackendError,
    RemoteTraceback,
    ResultSerializationError,
    TaskFailure,
    WorkerCrashedError,
)
from parjob.tasks import BatchResult


def result_of(future: Future[BatchResult]) -> BatchResult:
    """``future``'s BatchResult (it is done), or the exception the caller should see."""
    try:
        return future.result()
    except TaskFailure as failure:
        error = failure.reraise()  # the task's own exception, chained to the worker's frames
        if error.__cause__ is None:
            # it ran in a thread of this process, so its frames are its own traceback; but
            # joblib drops the traceback of what a callback raises: keep them as text
            error.__cause__ = RemoteTraceback(failure.text)
        raise error  # noqa: B904 - the cause is set above
    except BackendError:
        raise
    except CancelledError:
        raise WorkerCrashedError("a joblib batch was cancelled by the backend") from None
    except Exception as exc:
        if _is_pickling_error(exc):
            raise ResultSerializationError(
                f"a result of a joblib batch cannot be sent back from the worker: "
                f"{type(exc).__name__}: {exc}. Return something picklable, or run on threads."
            ) from exc
        raise WorkerCrashedError(
            f"a worker failed while running a joblib batch: {type(exc).__name__}: {exc}"
        ) from exc


def _is_pickling_error(exc: BaseException) -> bool:
    kinds: tuple[type[BaseException], ...] = (pickle.PickleError, TypeError, AttributeError)
    return isinstance(exc, kinds) and "pickle" in str(exc).lower()


class JoblibBatch:
    """The one task of a parjob batch: a batch joblib made (run as it is, in the worker)."""

    __slots__ = ("calls",)

    def __init__(self, calls: Any) -> None:
        self.calls = calls

    def __call__(self) -> Any:
        return self.calls()

    def __reduce__(self) -> tuple[Any, ...]:
        return (JoblibBatch, (self.calls,))

    def __repr__(self) -> str:  # how parjob's error notes name the task
        return "a joblib.Parallel batch"
