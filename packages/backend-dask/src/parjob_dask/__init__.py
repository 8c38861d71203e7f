"""parjob-dask: run parjob's ``Parallel`` on a dask.distributed cluster.

Installing it is enough: ``with parallel_config("dask"):`` finds it through the ``parjob``
entry-point group. See :class:`parjob_dask.backend.DaskBackend` for its parameters.
dask itself is imported only when a dask backend is first used.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

try:
    __version__ = metadata.version("parjob-dask")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

_LAZY = {
    "DaskBackend": "parjob_dask.backend",
    "close": "parjob_dask.cluster",
    "embedded_cluster": "parjob_dask.cluster",
}

__all__ = ["DaskBackend", "__version__", "close", "embedded_cluster"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'parjob_dask' has no attribute {name!r}")
