"""How the runner words a batch in its errors, and tells a pickler's complaint."""

from __future__ import annotations

import pickle
from concurrent.futures import CancelledError

from parjob.errors import ResultSerializationError, WorkerCrashedError, function_name
from parjob.tasks import Batch


def is_pickling_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a pickler's complaint. Tasks are pickled (and checked) in the
    caller before dispatch, so one coming back from a batch is about its results."""
    kinds = (pickle.PickleError, TypeError, AttributeError)
    return isinstance(exc, kinds) and "pickle" in str(exc).lower()


def last_line(exc: BaseException) -> str:
    """``exc`` in one line: engines put whole tracebacks in their messages."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    name = type(exc).__name__
    return last if last.startswith(name) else f"{name}: {last}"


def describe_batch(batch: Batch) -> str:
    first = batch.first_function
    if len(batch) == 1:
        return f"task {batch.start} ({function_name(first)})"
    return f"tasks {batch.start}-{batch.start + len(batch) - 1} ({function_name(first)}, ...)"


def batch_error(batch: Batch, exc: BaseException, serializes: bool) -> Exception:
    """The error for a batch whose future failed other than by a task raising: its results
    could not be sent back, or its worker failed (or the backend cancelled it)."""
    if isinstance(exc, CancelledError):
        return WorkerCrashedError(
            f"the batch of {describe_batch(batch)} was cancelled by the backend"
        )
    if serializes and is_pickling_error(exc):
        return ResultSerializationError(
            f"a result of {describe_batch(batch)} cannot be sent back from the worker: "
            f"{last_line(exc)}. Return something picklable, or run on threads "
            "(prefer='threads')."
        )
    what = f"{type(exc).__name__}: {exc}"
    return WorkerCrashedError(f"a worker failed while running {describe_batch(batch)}: {what}")
