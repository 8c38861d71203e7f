"""Engines shared by the test folders of several packages, started once per session."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    """One real 2-worker LocalCluster for the session (loopback, no dashboard); its
    client is the default client. dask is imported only by tests that use it."""
    import dask
    from distributed import Client, LocalCluster

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
    # a LocalCluster closes a worker's nanny for good when, 15 s after the worker was
    # lost, no worker of that name is back: on a busy machine, one restarting after the
    # next of several deaths in a row (the crash tests kill a few) is not
    dask.config.set({"distributed.deploy.lost-worker-timeout": "600s"})
    client = Client(cluster)  # the default client
    try:
        yield cluster
    finally:
        client.close()
        cluster.close()
