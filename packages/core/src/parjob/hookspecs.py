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
