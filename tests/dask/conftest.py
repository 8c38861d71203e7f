"""One real 2-worker LocalCluster for the whole session (loopback, no dashboard).

Its client is the default client, so ``parallel_config("dask")`` finds it. After every
test, nothing may be left on the scheduler (futures released after success, error,
timeout and Ctrl-C), and both workers must be back (fault tests kill some).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import dask
import pytest
from dask_helpers import wait_until_released
from distributed import Client, LocalCluster


@pytest.fixture(scope="session", autouse=True)
def dask_cluster() -> Iterator[LocalCluster]:
    settings = {
        # a task whose worker dies twice fails with KilledWorker (default: 3 deaths, slow)
        "distributed.scheduler.allowed-failures": 1,
        # dask's memory manager drops idle replicas every 2 s, and a worker then fetches
        # the data again: a second worker-side copy that is dask's doing, not parjob's,
        # which the "one copy per worker" tests would take for a copy per task
        "distributed.scheduler.active-memory-manager.start": False,
    }
    with dask.config.set(settings):
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            worker_dashboard_address=None,
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.CRITICAL,
            resources={"slot": 1},
        )
    client = Client(cluster)  # the default client
    try:
        yield cluster
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def client(dask_cluster: LocalCluster) -> Client:
    return Client.current()


@pytest.fixture(autouse=True)
def nothing_left_behind(dask_cluster: LocalCluster) -> Iterator[None]:
    yield
    client = Client.current()
    left = wait_until_released(client)
    client.wait_for_workers(2, timeout=60)
    assert not left, f"tasks left on the scheduler: {left}"
