"""The context variables parjob keeps per thread and asyncio task.

Two modules set them: ``parjob.config`` (a ``parallel_config`` block) and
``parjob.workerside`` (the world a batch's tasks run in). They live here, in a module that
imports nothing of parjob, so that the worker side needs neither the other.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple


class Nested(NamedTuple):
    """What a batch tells the tasks it runs about where they run (see ``parjob.nesting``)."""

    #: backend name and n_jobs that ``Parallel`` calls in these tasks default to
    backend: str
    n_jobs: int
    #: the backend running these tasks (for messages)
    outer: str
    #: these tasks may start local worker processes of their own
    processes: bool
    #: ``nesting_level`` inside these tasks (1 for tasks of a top-level call)
    level: int
    #: the CPUs these tasks may keep busy (their worker's share; ``parjob.threadlimits``),
    #: which ``cpu_count()`` returns inside them; None: the machine's
    cpus: int | None = None


EMPTY: Mapping[str, Any] = MappingProxyType({})

#: the ``parallel_config`` settings in force (only the keys some block has set)
settings: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "parjob_config", default=EMPTY
)
#: inside a task: what its batch said about where it runs (config blocks leave it alone)
worker: contextvars.ContextVar[Nested | None] = contextvars.ContextVar(
    "parjob_worker", default=None
)

#: parjob's own variables: a caller's snapshot never carries them to a worker
OWN: frozenset[contextvars.ContextVar[Any]] = frozenset({settings, worker})
