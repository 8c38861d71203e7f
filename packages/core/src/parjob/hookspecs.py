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
