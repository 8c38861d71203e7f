"""The caller's world, captured once per call and installed around each batch's tasks.

:func:`capture` runs in the caller when a call starts: it takes the caller's context
variables, its warning filters, what plugins return from the ``capture_context`` hook
(library settings kept in thread-locals, say), the relay switches, the seed and the worker
initializer. The result, a :class:`CallContext`, travels in every batch of the call (in its
``nested`` record); :meth:`CallContext.enter` installs it in the worker and
:meth:`Entered.leave` undoes it. With nothing to carry, :func:`capture` returns None and
batches travel and run exactly as they did without it.

For batches that cross a process boundary, values are pickled once in the caller (a value
that cannot be pickled is named in one warning and stays behind) and unpickled once per
call in each worker. Thread workers share the caller's memory: the variables are set as
they are, and warning filters, prints and log records need no carrying at all.
"""

from __future__ import annotations

import contextvars
import decimal
import functools
import logging
import pickle
import sys
import threading
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from parjob import relay, seeds, state, workerinit
from parjob.threadlimits import here
from parjob.warn import warn_user


class CallContext:
    """What a call's batches carry about the caller (see the module docstring)."""

    __slots__ = (
        "call_id",
        "filters",
        "init",
        "libraries",
        "log_level",
        "origin",
        "relay_logs",
        "relay_output",
        "seed",
        "seed_globals",
        "variables",
    )

    def __init__(self, **fields: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, fields.get(name))

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, values: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, values, strict=True):
            setattr(self, name, value)

    def enter(self, portable: bool) -> Entered:
        """Install this context in the running worker thread, before a batch's tasks."""
        return Entered(self, portable)


class Entered:
    """A :class:`CallContext` installed in a worker; :meth:`leave` undoes it."""

    __slots__ = ("_filters", "_libraries", "_portable", "_relay", "_tokens", "reseed", "seed")

    def __init__(self, context: CallContext, portable: bool) -> None:
        self.seed: int | None = context.seed
        #: the seed when the global generators are seeded before each task, else None
        #: (thread workers share those globals: they are left alone there)
        self.reseed: int | None = self.seed if context.seed_globals and portable else None
        if self.reseed is not None:
            seeds.prepare()
        self._tokens: list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]] = []
        self._libraries: list[Any] = []
        self._filters: list[Any] | None = None
        self._relay: Any = None
        self._portable = workerinit.entering(portable)
        decoded = _decoded(context) if portable else None
        variables = decoded[0] if decoded is not None else context.variables
        for var, value in variables or ():
            self._tokens.append((var, var.set(value)))
        if decoded is not None and decoded[1] is not None and decoded[1] != warnings.filters:
            self._filters = warnings.filters[:]
            warnings.filters[:] = decoded[1]
            warnings._filters_mutated()  # type: ignore[attr-defined]
        libraries = decoded[2] if decoded is not None else context.libraries
        try:
            for restore in libraries or ():
                manager = restore()
                manager.__enter__()
                self._libraries.append(manager)
            if context.init is not None:
                workerinit.ensure(context.init, portable)
        except BaseException:
            self.leave()
            raise
        if portable and context.origin != here():  # in the caller's process: no relay needed
            self._relay = relay.start(
                bool(context.relay_logs), bool(context.relay_output), context.log_level
            )

    def leave(self) -> relay.Relayed | None:
        """Undo :meth:`CallContext.enter`; what the relays collected, if any."""
        relayed = relay.stop(self._relay) if self._relay is not None else None
        self._relay = None
        while self._libraries:
            self._libraries.pop().__exit__(None, None, None)
        if self._filters is not None:
            warnings.filters[:] = self._filters
            warnings._filters_mutated()  # type: ignore[attr-defined]
            self._filters = None
        while self._tokens:
            var, token = self._tokens.pop()
            var.reset(token)
        workerinit.leaving(self._portable)
        return relayed


def capture(
    portable: bool,
    seed: int | None = None,
    init: tuple[Callable[..., Any], tuple[Any, ...]] | None = None,
    relay_logs: bool | None = None,
    relay_output: bool | None = None,
    local: bool = False,
    seed_globals: bool = False,
) -> CallContext | None:
    """The caller's world for the batches of one call; None when there is nothing to carry.

    ``portable``: the backend pickles batches (its workers are other processes). The
    relays default to on there (``None``) and are never needed on threads. ``local``: the
    workers are processes on this machine, which write to the caller's own stdout and
    stderr when those are the process's streams (a terminal, a pipe): their prints then
    appear as they happen, and are relayed by default only where the caller's streams are
    something else (Jupyter, captured output).
    """
    context = contextvars.copy_context()
    # (each comprehension is a call: none for the usual empty context and hooks)
    variables = (
        [(v, value) for v, value in context.items() if v not in state.OWN] if context else []
    )
    hooked = _hook_values()
    libraries = [found for found in hooked if found is not None] if hooked else []
    if portable:
        libraries += [
            functools.partial(decimal.localcontext, value)
            for var, value in variables
            if var.name == "decimal_context" and "decimal" in sys.modules
        ]
    logs = portable and relay_logs is not False
    output = portable and (
        relay_output is True
        or (relay_output is None and not (local and _streams_are_the_process_own()))
    )
    if not (variables or libraries or seed is not None or init is not None or logs or output):
        return None
    prepared_init = workerinit.prepare(init[0], init[1], portable) if init is not None else None
    fields: dict[str, Any] = {
        "call_id": uuid.uuid4().hex,
        "seed": seed,
        "seed_globals": seed_globals,
        "init": prepared_init,
        "relay_logs": logs,
        "relay_output": output,
        "log_level": _lowest_log_level() if logs else logging.WARNING,
        "origin": here(),
        "variables": variables or None,
        "libraries": libraries or None,
    }
    if portable:
        fields["variables"] = _portable_variables(variables)
        fields["libraries"] = _pickled_each(libraries, "capture_context values")
        fields["filters"] = _pickled_each(list(warnings.filters), None)
    return CallContext(**fields)


def filter_modules() -> tuple[str, ...]:
    """The modules defining the categories of this process's warning filters (numpy adds
    filters for its own classes): a batch's worker imports them when it unpickles the
    call's filters, so a backend that boots new workers before a ``timeout=`` call can
    import them there first."""
    names = {getattr(entry[2], "__module__", "builtins") for entry in warnings.filters}
    names.discard("builtins")
    return tuple(sorted(names))


def _lowest_log_level() -> int:
    """The lowest level any of the caller's loggers listens at: workers keep records from
    that level up, and the caller's loggers filter them again when they are replayed."""
    root = logging.getLogger()
    levels = [root.getEffectiveLevel()]
    for logger in list(logging.Logger.manager.loggerDict.values()):
        level = getattr(logger, "level", 0)
        if level:
            levels.append(level)
    return min(levels)


def _hook_values() -> list[Any]:
    # the caller has loaded it (Parallel chose a backend); an import costs more per call
    plugins = sys.modules.get("parjob.plugins")
    if plugins is None:
        import parjob.plugins as plugins
    manager = plugins._load().manager  # the registry's plugin manager, loaded once
    if manager is None or not manager.hook.capture_context.get_hookimpls():
        return []
    return list(manager.hook.capture_context())


# -- context variables across processes ------------------------------------------------
#: where each variable seen so far is defined: (module, attribute), or None if nowhere
_homes: dict[contextvars.ContextVar[Any], tuple[str, str] | None] = {}
_warned: set[str] = set()
#: packages whose context variables describe the thread they run in, not a caller's setting
_ENGINE_PACKAGES = frozenset(
    {"asyncio", "concurrent", "dask", "distributed", "ray", "pyspark", "tornado"}
)


def _portable_variables(variables: list[tuple[Any, Any]]) -> tuple[Any, ...] | None:
    """Each variable as ``(module, attribute, pickled value)``; a worker imports the module
    to find the same variable. One warning names those that cannot travel."""
    out, left = [], []
    in_task = state.worker.get() is not None
    for var, value in variables:
        if var.name == "decimal_context":  # the decimal module's own, kept in C
            continue  # travels as a library setting instead (see capture)
        home = _home(var)
        if home is None:
            if not in_task:  # inside a task, the engine's own variables are found too
                left.append(f"{var.name} (not a module-level variable)")
            continue
        if home[0].partition(".")[0] in _ENGINE_PACKAGES:
            continue  # an engine's state of this thread (a dask worker's), not the caller's
        try:
            out.append((*home, _dumps(value)))
        except Exception as exc:
            left.append(f"{var.name} ({type(exc).__name__}: {exc})")
    new = [name for name in left if name not in _warned]
    if new:
        _warned.update(new)
        warn_user(
            "parjob: these context variables stay behind (their tasks see the defaults): "
            + "; ".join(new)
        )
    return tuple(out) or None


def _home(var: contextvars.ContextVar[Any]) -> tuple[str, str] | None:
    if var in _homes:
        return _homes[var]
    found = None
    for name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict) or name in ("__main__", "__mp_main__"):
            continue  # a worker's __main__ is not the caller's
        for attribute, value in list(namespace.items()):
            if value is var:
                found = (name, attribute)
                break
        if found is not None:
            break
    _homes[var] = found
    return found


def _pickled_each(values: list[Any], what: str | None) -> tuple[bytes, ...] | None:
    out = []
    for value in values:
        try:
            out.append(_dumps(value))
        except Exception as exc:
            if what is not None:
                warn_user(f"parjob: one of the {what} cannot be pickled and stays behind: {exc}")
    return tuple(out) or None


def _dumps(value: Any) -> bytes:
    import cloudpickle

    return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


# -- in the worker ----------------------------------------------------------------------
#: a few calls' unpickled contexts: (variables, filters, libraries) by call id
_cache: OrderedDict[str, tuple[Any, Any, Any]] = OrderedDict()
_cache_lock = threading.Lock()


def _decoded(context: CallContext) -> tuple[Any, Any, Any]:
    key = context.call_id
    with _cache_lock:
        found = _cache.get(key)
    if found is not None:
        return found
    variables = []
    for module, attribute, data in context.variables or ():
        try:
            var = getattr(__import__(module, fromlist=[attribute]), attribute)
            variables.append((var, pickle.loads(data)))
        except Exception:  # not importable here: that task sees the default
            continue
    filters = None
    if context.filters is not None:
        filters = []
        for data in context.filters:
            try:
                filters.append(pickle.loads(data))
            except Exception:  # a warning category this worker cannot import
                continue
    libraries = [pickle.loads(data) for data in context.libraries or ()]
    found = (variables, filters, libraries)
    with _cache_lock:
        _cache[key] = found
        while len(_cache) > 8:
            _cache.popitem(last=False)
    return found


def _streams_are_the_process_own() -> bool:
    """Whether ``sys.stdout`` and ``sys.stderr`` are the streams the process started with,
    which worker processes started here inherit."""
    return sys.stdout is sys.__stdout__ and sys.stderr is sys.__stderr__
