"""In the worker: run a batch's tasks so that one failing does not stop the others.

Used when the call's failure policy is not raise-at-once (``on_error="collect"`` or
``"skip"``, or ``retries``): each failure is captured into its task's result slot as a
:class:`~parjob.errors.TaskFailure`, and the caller turns the slots into ``TaskError``
values, retries or skips. One batch, one round trip, however many tasks fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from parjob import seeds
from parjob.errors import TaskFailure

if TYPE_CHECKING:
    from parjob.tasks import Batch


def run_keeping_failures(
    batch: Batch, append: Callable[[Any], None], seed: int | None = None
) -> None:
    """Append each task's result, or its captured failure, in order.

    A batch with a time ``budget`` stops once the budget is spent, as any batch does.
    ``KeyboardInterrupt`` and ``SystemExit`` still end the batch: they are not a task's
    failure but a request to stop.
    """
    start = batch.start
    portable = batch.portable
    if batch.budget is None and batch._single and seed is None:
        # the usual unpickled batch: one function over one argument each, no clock to read
        func = batch._function
        for offset, value in enumerate(batch._arguments or ()):
            try:
                append(func(value))
            except Exception as exc:
                append(TaskFailure.capture(start + offset, func, exc, portable))
                del exc
        return
    deadline = time.perf_counter() + batch.budget if batch.budget is not None else None
    for offset, (func, args, kwargs) in enumerate(batch.tasks):
        if seed is not None:
            seeds.begin_task(seed, start + offset)
        try:
            append(func(*args, **kwargs))
        except Exception as exc:
            append(TaskFailure.capture(start + offset, func, exc, portable))
            del exc
        if deadline is not None and time.perf_counter() >= deadline:
            break
