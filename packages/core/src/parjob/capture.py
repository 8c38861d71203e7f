"""In the worker: run a batch's tasks so that one failing does not stop the others.

Used when the call's failure policy is not raise-at-once (``on_error="collect"`` or
``"skip"``, or ``retries``): each failure is captured into its task's result slot as a
:class:`~parjob.errors.TaskFailure`, and the caller turns the slots into ``TaskError``
values, retries or skips. One batch, one round trip, however many tasks fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from parjob import seeds
from parjob.errors import TaskFailure

if TYPE_CHECKING:
    from parjob.tasks import Batch


def run_keeping_failures(
    batch: Batch, append: Callable[[Any], None], reseed: int | None = None
) -> list[int]:
    """Append each task's result, or its captured failure, in order; return the offsets
    (in the batch) of the failures.

    A batch with a time ``budget`` stops once the budget is spent, as any batch does.
    ``KeyboardInterrupt`` and ``SystemExit`` still end the batch: they are not a task's
    failure but a request to stop. ``reseed``: the call's seed when the global generators
    are seeded before each task (``seed_globals=True``).
    """
    start = batch.start
    portable = batch.portable
    failed: list[int] = []
    if batch.budget is None and batch._single and reseed is None:
        # the usual unpickled batch: one function over one argument each, no clock to read
        func = batch._function
        for offset, value in enumerate(batch._arguments or ()):
            try:
                append(func(value))
            except Exception as exc:
                append(TaskFailure.capture(start + offset, func, exc, portable))
                failed.append(offset)
                del exc
        return failed
    deadline = time.perf_counter() + batch.budget if batch.budget is not None else None
    for offset, (func, args, kwargs) in enumerate(batch.tasks):
        if reseed is not None:
            seeds.seed_globals(reseed, start + offset)
        try:
            append(func(*args, **kwargs))
        except Exception as exc:
            append(TaskFailure.capture(start + offset, func, exc, portable))
            failed.append(offset)
            del exc
        if deadline is not None and time.perf_counter() >= deadline:
            break
    return failed


class WithFailures(list):  # type: ignore[type-arg]
    """A batch's results when some slots hold a ``TaskFailure``: ``failed`` says which, so
    the caller looks at those slots only (a batch without failures returns a plain list).

    On the way back from a worker the failures travel as one record of plain values
    (pickled at C speed, no pickler hook called for each) and take their slots again on
    arrival.
    """

    __slots__ = ("failed",)

    def __init__(self, results: Iterable[Any] = (), failed: list[int] | None = None) -> None:
        super().__init__(results)
        #: the offsets of the slots holding a failure, in order
        self.failed: list[int] = failed or []

    def __reduce__(self) -> tuple[Any, ...]:
        plain = list(self)
        record = []
        for offset in self.failed:
            record.append((offset, plain[offset].fields()))
            plain[offset] = None
        return (WithFailures, (), record, iter(plain))

    def __setstate__(self, record: list[tuple[int, tuple[Any, ...]]]) -> None:
        # (called once the other slots are filled)
        for offset, fields in record:
            self[offset] = TaskFailure(*fields)
        self.failed = [offset for offset, _ in record]
