"""Task functions and an estimator for the joblib-bridge tests (pickled by value, so the
workers of every engine get them without importing this folder)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression


def where(_: Any = None) -> str:
    """Where this runs: a dask worker, a Ray task, a Spark task, else the process id."""
    if "distributed" in sys.modules:
        from distributed import get_worker

        try:
            return f"dask {get_worker().address}"
        except ValueError:
            pass
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized() and ray.get_runtime_context().get_task_id() is not None:
            return f"ray {ray.get_runtime_context().get_task_id()}"
    if "pyspark" in sys.modules:
        from pyspark import TaskContext

        context = TaskContext.get()
        if context is not None:
            return f"spark {context.partitionId()}"
    return f"pid {os.getpid()}"


def fail(x: int) -> int:
    if x == 3:
        raise KeyError(f"task {x} fails")
    return x


class LoggedLogistic(ClassifierMixin, BaseEstimator):
    """LogisticRegression whose fit appends where it ran to the file ``log``."""

    def __init__(self, C: float = 1.0, log: str = "") -> None:
        self.C = C
        self.log = log

    def fit(self, X: Any, y: Any) -> LoggedLogistic:
        self.model_ = LogisticRegression(C=self.C, max_iter=500).fit(X, y)
        self.classes_ = self.model_.classes_
        if self.log:
            with Path(self.log).open("a") as f:
                f.write(where() + "\n")
        return self

    def predict(self, X: Any) -> Any:
        return self.model_.predict(X)
