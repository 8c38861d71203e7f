"""Helpers for the joblib-bridge tests (run in the caller only)."""

from __future__ import annotations

from typing import Any


def scheduler_keys(client: Any) -> list[str]:
    """The keys the dask scheduler still holds."""
    return client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])
