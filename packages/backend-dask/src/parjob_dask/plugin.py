"""Registers the ``dask`` backend with parjob (entry point ``dask`` in group ``parjob``).

Registering is cheap: :mod:`parjob_dask.backend` imports dask and distributed only when a
dask backend is created, not when the class is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from parjob import CONTRACT_VERSION, hookimpl
from parjob_dask.backend import DaskBackend


@hookimpl
def register_backends(register: Callable[..., Any]) -> None:
    register("dask", DaskBackend, contract=CONTRACT_VERSION)


@hookimpl
def parallel_config_entered(
    settings: Mapping[str, Any], block: Mapping[str, Any]
) -> Callable[[], None] | None:
    """A block that gives a ``scatter=`` list: its data is freed when the block ends."""
    params = settings.get("backend_params")
    if "backend_params" not in block or not params or params.get("scatter") is None:
        return None  # nested blocks that change no parameters share the outer block's data
    from parjob_dask import scatter

    return scatter.open_block(params)
