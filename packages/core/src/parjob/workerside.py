"""The world a batch's tasks run in, entered by the worker around them and left after.

A batch carries its backend's nested choice (:class:`~parjob.state.Nested`), its worker's
share of the CPUs (a :class:`~parjob.threadlimits.Budget`) and, when the
caller set anything up, the call's :class:`~parjob.callcontext.CallContext`: the caller's
context variables, warning filters, library settings (the ``capture_context`` hook), the
log and print relays, the per-task seeds and the worker initializer. :func:`enter` installs
them, :func:`leave` undoes them; ``Batch.__call__`` calls both.

With nothing set up, entering costs two context-variable assignments, as before.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from parjob import state, threadlimits
from parjob.state import Nested

if TYPE_CHECKING:
    from parjob.callcontext import CallContext

WorkerToken = tuple[contextvars.Token[Mapping[str, Any]], contextvars.Token[Any], Any]


def call_context(nested: tuple[Any, ...]) -> CallContext | None:
    """The call's context that travels in a batch's ``nested`` record (None: nothing set)."""
    return nested[5] if len(nested) > 5 else None


def enter(nested: tuple[Any, ...], portable: bool) -> WorkerToken:
    """Install a batch's world in this worker (thread or process) before its tasks run.

    ``nested`` is the batch's :class:`Nested` record, perhaps followed by the call's
    context (or None) and its budget; ``portable`` says the batch crossed a process boundary.
    """
    size = len(nested)
    cpus = threadlimits.enter(nested[6]) if size > 6 else None
    context = nested[5] if size > 5 else None
    entered = context.enter(portable) if context is not None else None
    if size < 5:  # a batch from an older caller: a task of a top-level call
        nested = (nested[0], nested[1], nested[0], True, 1)
    record = (*nested[:5], cpus)
    world = _worlds.get(record)
    if world is None:
        world = _world(record)
    return state.settings.set(world[0]), state.worker.set(world[1]), entered


#: the settings and ``Nested`` record each batch's world installs, by the record's fields
#: (both read-only: the batches of a call, and of calls alike, share them)
_worlds: dict[tuple[Any, ...], tuple[Mapping[str, Any], Nested]] = {}


def _world(record: tuple[Any, ...]) -> tuple[Mapping[str, Any], Nested]:
    backend, n_jobs = record[0], record[1]
    world = (
        MappingProxyType({"backend": backend, "n_jobs": n_jobs, "in_worker": True}),
        Nested(*record),
    )
    if len(_worlds) >= 64:
        _worlds.clear()
    _worlds[record] = world
    return world


def leave(token: WorkerToken) -> Any:
    """Undo :func:`enter`; returns what the relays collected (None when none ran)."""
    state.settings.reset(token[0])
    state.worker.reset(token[1])
    entered = token[2]
    return entered.leave() if entered is not None else None


def worker() -> Nested | None:
    """Inside a task: its batch's :class:`Nested` record; else None."""
    return state.worker.get()


def nesting_level() -> int:
    """0 in the caller, 1 inside a task of a top-level call, 2 inside a nested call's task."""
    found = state.worker.get()
    return found.level if found is not None else 0


# the older names, for code written against parjob.config
def enter_worker(backend: str, n_jobs: int, *where: Any) -> WorkerToken:
    """Make ``backend`` with ``n_jobs`` the default for ``Parallel`` calls inside a task."""
    return enter((backend, n_jobs, *where), portable=False)


def leave_worker(token: WorkerToken) -> None:
    leave(token)
