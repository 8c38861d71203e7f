"""The pluggy hooks a parjob plugin implements (entry-point group ``parjob``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("parjob")
hookimpl = pluggy.HookimplMarker("parjob")


@hookspec
def register_backends(register: Callable[..., Any]) -> None:
    """Call ``register(name, factory, contract=N)`` for each backend this plugin provides."""


@hookspec
def parallel_config_entered(
    settings: Mapping[str, Any], block: Mapping[str, Any]
) -> Callable[[], None] | None:
    """A ``parallel_config`` / ``parallel_backend`` block was entered in this thread.

    ``settings``: the configuration now in force (the outer blocks' merged with this one);
    ``block``: only what this block sets. Both use the keys of ``parjob.config.current()``
    (``backend``, ``n_jobs``, ``backend_params``, ...). Return a callable that takes no
    arguments to be told when this block is left (called in the same thread, innermost
    block first), or None. Lets a plugin steer another library for the block, or free what
    a backend kept for it (scattered data).
    """


# -- watching a call (see ``parjob.observe``; docs/observability.md) ---------------------
# Called in the process that runs the ``Parallel`` call, on every backend (``n_jobs=1``
# included), in this order: ``call_started``, then ``batch_finished`` and ``task_failed``
# as they happen, then ``call_finished``. With no implementation they cost nothing.


@hookspec
def call_started(call: Any) -> None:
    """A ``Parallel`` call started: ``call`` is a :class:`parjob.observe.CallInfo`
    (``backend``, ``n_jobs``, ``total`` tasks when the input has a length, ...)."""


@hookspec
def batch_finished(call: Any, batch: Any) -> None:
    """A batch of ``call`` finished: ``batch`` is a :class:`parjob.observe.BatchInfo`
    (``start``, ``tasks``, ``seconds``, ``worker``, ``began``, ``done`` so far)."""


@hookspec
def task_failed(
    call: Any, index: int, function: Any, error: BaseException, attempt: int, retrying: bool
) -> None:
    """Task ``index`` of ``call`` raised ``error`` on its ``attempt``-th run (1 for the
    first); ``retrying`` when it will run again."""


@hookspec
def call_finished(call: Any, summary: Any) -> None:
    """``call`` ended (finished, failed, or a generator closed early): ``summary`` is its
    :class:`parjob.summary.RunSummary`, the one ``Parallel.last_run`` gives."""


@hookspec
def capture_context() -> Any:
    """In the caller, once per ``Parallel`` call: a picklable callable that returns a
    context manager re-creating this plugin's settings (None: nothing to carry).

    Each worker enters ``value()`` around the call's tasks, so a library that keeps its
    configuration in a thread-local (``functools.partial(mylib.config_context,
    **mylib.get_config())``) sees the caller's in every task, on every backend.
    """
