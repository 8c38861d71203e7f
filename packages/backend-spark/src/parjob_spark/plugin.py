"""Registers the ``spark`` backend with parjob (entry point ``spark`` in group ``parjob``).

Registering is cheap: pyspark is imported when a spark backend first runs, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from parjob import CONTRACT_VERSION, hookimpl


@hookimpl
def register_backends(register: Callable[..., Any]) -> None:
    from parjob_spark.backend import SparkBackend

    register("spark", SparkBackend, contract=CONTRACT_VERSION)
