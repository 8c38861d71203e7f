"""Naming what cannot be pickled, so a bad task fails before dispatch with a useful message."""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable
from typing import Any

import cloudpickle

from parjob.errors import SerializationError, function_name
from parjob.tasks import Batch


def explain(batch: Batch, error: BaseException) -> SerializationError:
    """Find the first function, argument or keyword in ``batch`` that does not pickle."""
    for offset, (func, args, kwargs) in enumerate(batch.tasks):
        index = batch.start + offset
        name = function_name(func)
        parts: list[tuple[str, Any]] = [("the function", func)]
        parts += [(f"positional argument {i}", arg) for i, arg in enumerate(args)]
        parts += [(f"keyword argument {key!r}", value) for key, value in kwargs.items()]
        for what, obj in parts:
            problem = _pickle_problem(obj)
            if problem is not None:
                return SerializationError(
                    f"Could not pickle the task to send it to the workers: task {index} "
                    f"({name}) cannot be sent to a worker: {what}, "
                    f"{_short_repr(obj)}, cannot be pickled ({problem}). Use a thread-based "
                    "backend (prefer='threads') or pass something picklable."
                )
    return SerializationError(
        f"Could not pickle the task to send it to the workers: tasks {batch.start}.. "
        f"cannot be sent to a worker: {error}"
    )


def _pickle_problem(obj: Any) -> str | None:
    try:
        cloudpickle.dumps(obj)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _short_repr(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."


class CloudPickled:
    """A callable that pickles through cloudpickle, whatever pickler carries it."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (cloudpickle.dumps(self.function),))


def _restore(data: bytes) -> CloudPickled:
    return CloudPickled(pickle.loads(data))


def wrap_non_picklable_objects(function: Callable[..., Any]) -> CloudPickled:
    """Make a function defined interactively picklable by any pickler (via cloudpickle).

    parjob already pickles tasks with cloudpickle for process backends; this is for code
    that hands functions to a plain ``pickle``-based tool, as joblib's decorator does.
    """
    return CloudPickled(function)
