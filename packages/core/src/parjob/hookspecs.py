"""The pluggy hooks a parjob plugin implements (entry-point group ``parjob``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("parjob")
hookimpl = pluggy.HookimplMarker("parjob")


@hookspec
def register_backends(register: Callable[..., Any]) -> None:
    """Call ``register(name, factory, contract=N)`` for each backend this plugin provides."""


@hookspec
def capture_context() -> Any:
    """In the caller, once per ``Parallel`` call: a picklable callable that returns a
    context manager re-creating this plugin's settings (None: nothing to carry).

    Each worker enters ``value()`` around the call's tasks, so a library that keeps its
    configuration in a thread-local (``functools.partial(mylib.config_context,
    **mylib.get_config())``) sees the caller's in every task, on every backend.
    """
