"""Task functions for test_worker_context (importable by worker processes)."""

from __future__ import annotations

import contextvars
import decimal
import functools
import threading
from typing import Any

from parjob import Parallel, delayed, hookimpl

LOCK_HOLDER = contextvars.ContextVar("parjob_test_lock_holder", default=None)
_library = threading.local()


def holder(_: Any) -> Any:
    value = LOCK_HOLDER.get()
    return None if value is None else type(value).__name__


def precision(_: Any) -> int:
    return decimal.getcontext().prec


def library_setting(_: Any) -> Any:
    return getattr(_library, "value", "default")


class setting:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __enter__(self) -> None:
        self.saved = getattr(_library, "value", "default")
        _library.value = self.value

    def __exit__(self, *exc: Any) -> None:
        _library.value = self.saved


class Carrier:
    @hookimpl
    def capture_context(self) -> Any:
        return functools.partial(setting, getattr(_library, "value", "default"))


def ident(_: Any) -> int:
    return threading.get_ident()


def nested_threads(n: int) -> list[int]:
    return Parallel(n_jobs=2, backend="threading")(delayed(abs)(-i) for i in range(n))


def failing_initializer() -> None:
    raise KeyError("no model here")


def draws_numpy_globally(_: Any) -> float:
    import numpy

    return float(numpy.random.random())


def draws_random_globally(_: Any) -> float:
    import random

    return random.random()


def draws_own_stream(_: Any) -> int:
    from parjob import task_rng

    return int(task_rng().integers(100))
