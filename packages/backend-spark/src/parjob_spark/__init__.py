"""parjob-spark: run parjob's ``Parallel`` on Apache Spark (classic or Spark Connect).

Installing it is enough: ``with parallel_config("spark"):`` finds it through the ``parjob``
entry-point group. See :class:`parjob_spark.backend.SparkBackend` for its parameters.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

try:
    __version__ = metadata.version("parjob-spark")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

_LAZY = {"SparkBackend": "parjob_spark.backend", "close": "parjob_spark.session"}

__all__ = ["SparkBackend", "__version__", "close"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'parjob_spark' has no attribute {name!r}")
