"""Helpers for the dask tests: what the session scheduler still holds."""

from __future__ import annotations

import gc
import time

from distributed import Client, LocalCluster


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


def workerless_cluster() -> LocalCluster:
    """A scheduler in this process on loopback TCP, with no worker (close it after use)."""
    return LocalCluster(
        n_workers=0,
        threads_per_worker=1,  # for the workers an adaptive cluster may start
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    )
