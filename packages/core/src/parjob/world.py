"""The per-call options that shape the world tasks run in: ``seed=``, ``initializer=``,
the relay switches. :class:`World` turns them, with the caller's context captured at the
start of each call (``parjob.callcontext``), into what the call's batches carry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from parjob import callcontext, seeds, threadlimits, workerinit
from parjob.tasks import Task
from parjob.warn import warn_user


@dataclasses.dataclass(frozen=True)
class World:
    seed: int | None = None
    init: tuple[Callable[..., Any], tuple[Any, ...]] | None = None
    relay_logs: bool | None = None
    relay_output: bool | None = None
    seed_globals: bool = False

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
            portable,
            self.seed,
            self.init,
            self.relay_logs,
            self.relay_output,
            local,
            self.seed_globals,
        )
        if budget is not None:
            return (*nested, context, budget)
        return nested if context is None else (*nested, context)

    def inline(self, tasks: Iterator[Task]) -> Iterator[Task]:
        """Tasks that run in the caller (``n_jobs=1``): run the initializer, name each task
        for ``task_rng()`` and, with ``seed_globals``, seed the global generators first."""
        if self.init is not None:
            workerinit.ensure(workerinit.prepare(*self.init, portable=False), portable=False)
        if self.seed is None:
            return tasks
        if self.seed_globals:
            seeds.prepare()
        return _seeded(tasks, self.seed, self.seed_globals)


def _seeded(tasks: Iterator[Task], seed: int, reseed: bool) -> Iterator[Task]:
    for index, (func, args, kwargs) in enumerate(tasks):
        yield (_run_seeded, (seed, index, reseed, func, args, kwargs), {})


#: the results an inline task is named by (none appended: its index is the start)
_NONE: tuple[()] = ()


def _run_seeded(
    seed: int, index: int, reseed: bool, func: Callable[..., Any], args: Any, kwargs: Any
) -> Any:
    before = seeds.begin(seed, index, _NONE)
    watched = None if reseed else seeds.watch(func)
    try:
        if reseed:
            seeds.seed_globals(seed, index)
        return func(*args, **kwargs)
    finally:
        seeds.end(before)
        if watched is not None and (warning := seeds.drew(watched)) is not None:
            warn_user(warning, seeds.SeedWarning)
