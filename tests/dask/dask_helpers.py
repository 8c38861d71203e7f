"""Helpers for the dask tests: what the session scheduler still holds."""

from __future__ import annotations

import gc
import time

from distributed import Client


def scheduler_keys(client: Client) -> list[str]:
    return client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])


def wait_until_released(client: Client, deadline: float = 10.0) -> list[str]:
    """Poll until the scheduler holds no task; return what is left after ``deadline``."""
    end = time.monotonic() + deadline
    while True:
        gc.collect()  # ends scatter caches whose context is gone
        keys = scheduler_keys(client)
        if not keys or time.monotonic() > end:
            return keys
        time.sleep(0.05)
