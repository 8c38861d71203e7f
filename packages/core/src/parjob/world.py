"""The per-call options that shape the world tasks run in: ``seed=``, ``initializer=``,
the relay switches. :class:`World` turns them, with the caller's context captured at the
start of each call (``parjob.callcontext``), into what the call's batches carry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from parjob import callcontext, seeds, threadlimits, workerinit
from parjob.tasks import Task


@dataclasses.dataclass(frozen=True)
class World:
    seed: int | None = None
    init: tuple[Callable[..., Any], tuple[Any, ...]] | None = None
    relay_logs: bool | None = None
    relay_output: bool | None = None

    def nested(
        self,
        nested: tuple[Any, ...],
        portable: bool,
        local: bool = False,
        budget: threadlimits.Budget | None = None,
    ) -> tuple[Any, ...]:
        """The batches' ``nested`` record, with the call's context appended when there is
        one, then the workers' CPU budget when there is one."""
        context = callcontext.capture(
            portable, self.seed, self.init, self.relay_logs, self.relay_output, local
        )
        if budget is not None:
            return (*nested, context, budget)
        return nested if context is None else (*nested, context)

    def inline(self, tasks: Iterator[Task]) -> Iterator[Task]:
        """Tasks that run in the caller (``n_jobs=1``): run the initializer, seed each task."""
        if self.init is not None:
            workerinit.ensure(workerinit.prepare(*self.init, portable=False), portable=False)
        if self.seed is None:
            return tasks
        seeds.prepare()
        return _seeded(tasks, self.seed)


def _seeded(tasks: Iterator[Task], seed: int) -> Iterator[Task]:
    for index, (func, args, kwargs) in enumerate(tasks):
        yield (_run_seeded, (seed, index, func, args, kwargs), {})


def _run_seeded(seed: int, index: int, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    seeds.begin_task(seed, index)
    try:
        return func(*args, **kwargs)
    finally:
        seeds.end_tasks()
