"""Watching calls: the records observers receive, and the lifecycle hooks' relay.

A plugin watches every ``Parallel`` call by implementing the hooks of
``parjob.hookspecs`` (``call_started``, ``batch_finished``, ``task_failed``,
``call_finished``), either from an installed package's ``parjob`` entry point or with
:func:`add_observer` at run time. Inside parjob the progress bar, the ``verbose`` lines and
the hooks relay are all :class:`Observer` objects that ``parjob.progress.Progress`` (the
call's hub) notifies. With no hook implementation a call never builds these records.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from parjob import plugins
from parjob.summary import RunSummary

_HOOKS = ("call_started", "batch_finished", "task_failed", "call_finished")
_call_ids = itertools.count(1)


@dataclasses.dataclass(frozen=True)
class CallInfo:
    """One ``Parallel`` call, as observers see it."""

    #: a number unique to this call in this process
    id: int
    backend: str
    n_jobs: int
    #: the number of tasks when the input has a length, else None
    total: int | None
    return_as: str
    #: 0 for a call made in the caller, 1 inside a task of another call, ...
    nesting_level: int
    #: wall-clock time (``time.time()``) the call began
    started: float


@dataclasses.dataclass(frozen=True)
class BatchInfo:
    """A finished batch: tasks ``start`` to ``start + tasks - 1`` of its call."""

    start: int
    tasks: int
    #: seconds the batch ran in its worker
    seconds: float
    #: ``"host:pid:thread"`` of the worker that ran it ("" when the backend did not say)
    worker: str
    #: wall-clock time the batch began in its worker
    began: float
    #: tasks of the call finished so far, this batch included
    done: int
    #: the call's number of tasks, once known
    total: int | None


def next_call_id() -> int:
    return next(_call_ids)


class Observer:
    """What the call's hub notifies; each method is optional (these do nothing)."""

    def started(self, call: CallInfo) -> None:
        """The call began."""

    def batch(self, call: CallInfo, batch: BatchInfo) -> None:
        """A batch finished."""

    def failed(
        self,
        call: CallInfo,
        index: int,
        function: Any,
        error: BaseException,
        attempt: int,
        retrying: bool,
    ) -> None:
        """A task failed (and is ``retrying`` or not)."""

    def total_known(self, total: int) -> None:
        """The input ran out: the call has ``total`` tasks."""

    def finished(self, call: CallInfo, summary: RunSummary | None, error: str | None) -> None:
        """The call ended; ``summary`` is given to observers that ask for it
        (``wants_summary``), else None."""

    #: build the call's RunSummary for ``finished`` (it costs a little)
    wants_summary = False


class HookRelay(Observer):
    """Passes the call's events on to the plugins' hook implementations."""

    wants_summary = True

    def __init__(self, hook: Any) -> None:
        self.hook = hook

    def started(self, call: CallInfo) -> None:
        self.hook.call_started(call=call)

    def batch(self, call: CallInfo, batch: BatchInfo) -> None:
        self.hook.batch_finished(call=call, batch=batch)

    def failed(self, call: CallInfo, *event: Any) -> None:
        index, function, error, attempt, retrying = event
        self.hook.task_failed(
            call=call,
            index=index,
            function=function,
            error=error,
            attempt=attempt,
            retrying=retrying,
        )

    def finished(self, call: CallInfo, summary: RunSummary | None, error: str | None) -> None:
        self.hook.call_finished(call=call, summary=summary)


def hook_relay(load: bool = True) -> HookRelay | None:
    """A relay to the observing plugins, or None when no plugin implements a hook.

    ``load=False``: only when plugins are already loaded (calls that run inline without
    choosing a backend skip plugin discovery, which costs tens of milliseconds). The
    answer is cached until plugins are loaded anew or :func:`add_observer` /
    :func:`remove_observer` change them.
    """
    global _cached
    cached_key = _cached[0]
    if cached_key is not None and cached_key[1] == _changes:
        registry = plugins._registry
        if cached_key[0] is registry and registry.loaded:
            return _cached[1]  # the usual case: nothing changed since the last call
    registry = plugins.current_registry()
    if not registry.loaded:
        if not load:
            return None
        registry = plugins._load()
    key = (registry, _changes)
    if _cached[0] == key:
        return _cached[1]
    manager = registry.manager
    relay = None
    if manager is not None:
        hook = manager.hook
        if any(getattr(hook, name).get_hookimpls() for name in _HOOKS):
            relay = HookRelay(hook)
    _cached = (key, relay)
    return relay


#: how many times observers were added or removed (the cache of hook_relay's answer)
_changes = 0
_cached: tuple[Any, HookRelay | None] = (None, None)


def add_observer(plugin: object, name: str | None = None) -> None:
    """Register ``plugin`` (an object or module with ``@parjob.hookimpl`` methods) so it
    hears of every call from now on, as an installed plugin would."""
    global _changes
    plugins._load().manager.register(plugin, name=name)  # type: ignore[union-attr]
    _changes += 1


def remove_observer(plugin: object) -> None:
    """Stop ``plugin`` (registered with :func:`add_observer`) hearing of calls."""
    global _changes
    manager = plugins._load().manager
    if manager is not None and manager.is_registered(plugin):
        manager.unregister(plugin)
    _changes += 1
