"""The dask tests run on the session's 2-worker LocalCluster (``dask_cluster``, in
``tests/conftest.py``, shared with the joblib-bridge tests); its client is the default
client, so ``parallel_config("dask")`` finds it. After every test, nothing may be left on
the scheduler (futures released after success, error, timeout and Ctrl-C), and both
workers must be back (fault tests kill some).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dask_helpers import wait_until_released
from distributed import Client, LocalCluster


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
