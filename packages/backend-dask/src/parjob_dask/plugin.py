"""Registers the ``dask`` backend with parjob (entry point ``dask`` in group ``parjob``).

Registering is cheap: :mod:`parjob_dask.backend` imports dask and distributed only when a
dask backend is created, not when the class is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from parjob import CONTRACT_VERSION, hookimpl
from parjob_dask.backend import DaskBackend


@hookimpl
def register_backends(register: Callable[..., Any]) -> None:
    register("dask", DaskBackend, contract=CONTRACT_VERSION)
