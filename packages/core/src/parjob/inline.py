"""Tasks run one at a time in the caller: ``n_jobs=1`` and the sequential backend.

No batches, no pickling: each task is called where ``Parallel`` was, and an error names
the task that raised it. Under a failure policy, a task is retried in place.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

from parjob.errors import TaskError, TaskFailure, function_name
from parjob.outcomes import Outcomes
from parjob.policy import Policy
from parjob.progress import Progress
from parjob.tasks import Task


def run_inline(tasks: Iterator[Task], progress: Progress) -> Iterator[Any]:
    """Run every task in the caller, one at a time: ``n_jobs=1`` and the sequential backend."""
    index = 0
    func: Any = None
    clock = time.perf_counter
    report = progress.next_report  # when to tell the progress hub (never, unless watched)
    try:
        for task in tasks:
            func, args, kwargs = task
            began = clock()
            result = func(*args, **kwargs)
            index += 1
            if index >= report:
                report = progress.ran_until(index, task, began)
            yield result
    except GeneratorExit:
        raise
    except BaseException as exc:
        _name_task(exc, index, func)
        raise
    progress.finish(done=index)


def run_inline_list(tasks: Iterator[Task], progress: Progress) -> list[Any]:
    """``run_inline`` for ``return_as="list"`` without the generator: tiny tasks stay cheap."""
    results: list[Any] = []
    append = results.append
    func: Any = None
    try:
        if progress.watched:  # tell the progress hub after each group of tasks
            report = int(progress.next_report)
            task: Any = None
            while True:
                for task in itertools.islice(tasks, report - len(results)):
                    func, args, kwargs = task
                    append(func(*args, **kwargs))
                if len(results) < report:
                    break  # the input ran out
                report = int(progress.ran_until(len(results), task))
        else:
            for func, args, kwargs in tasks:
                append(func(*args, **kwargs))
    except BaseException as exc:
        _name_task(exc, len(results), func)
        raise
    progress.finish(done=len(results))
    return results


def _name_task(exc: BaseException, index: int, func: Any) -> None:
    if func is not None and hasattr(exc, "add_note"):
        exc.add_note(f"parjob: raised by task {index} ({function_name(func)})")


def run_inline_with_policy(
    tasks: Iterator[Task], policy: Policy, progress: Progress
) -> Iterator[Any]:
    """``n_jobs=1`` and the sequential backend under a failure policy: each task in turn,
    retried in place as the policy says (there is no worker to lose, nor a timeout)."""
    outcomes = Outcomes(policy, progress, ("sequential", 1))
    for index, task in enumerate(tasks):
        func, args, kwargs = task
        while True:
            try:
                value = func(*args, **kwargs)
            except Exception as exc:
                record = TaskError.of(TaskFailure.capture(index, func, exc, portable=False), 0)
                del exc
                when = outcomes._decide(record, task, False)
                if when is not None:
                    time.sleep(max(when - time.monotonic(), 0.0))
                    continue
                if policy.on_error == "collect":
                    value = record
                else:
                    outcomes._skip(record)
                    break
            progress.add(1)
            yield value
            break
    outcomes.finish()
    progress.finish(done=progress.done)
