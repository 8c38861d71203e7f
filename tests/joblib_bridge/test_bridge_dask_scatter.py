"""``with parallel_config("dask", scatter=[X, y]): GridSearchCV(...).fit(X, y)``: the data
goes to the cluster once, the fits get it there, and it leaves when the block ends."""

from __future__ import annotations

import time

import numpy as np
from bridge_helpers import scheduler_keys
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

from parjob import parallel_config


def keys(client: Client) -> list[str]:
    return scheduler_keys(client)


def test_scattered_data_is_used_once_and_freed_at_block_end(dask_cluster: LocalCluster) -> None:
    X, y = load_digits(return_X_y=True)
    X, y = X[:400], y[:400]
    grid = {"C": [1.0, 10.0], "gamma": [0.001, 0.01]}
    expected = GridSearchCV(SVC(), grid, cv=3).fit(X, y).cv_results_["mean_test_score"]
    client = Client.current()
    with parallel_config("dask", scatter=[X, y]):
        search = GridSearchCV(SVC(), grid, cv=3, refit=False).fit(X, y)
        data = [key for key in keys(client) if not key.startswith("parjob-")]
        assert len(data) == 2  # X and y, once for the whole search
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], expected)
    end = time.monotonic() + 10
    while keys(client) and time.monotonic() < end:  # no garbage collection needed
        time.sleep(0.02)
    assert keys(client) == []


def test_joblib_api_with_scatter(dask_cluster: LocalCluster) -> None:
    import joblib

    import parjob_joblib

    parjob_joblib.register()
    X = np.arange(1000.0)
    client = Client.current()
    with joblib.parallel_config("parjob-dask", scatter=[X]):
        out = joblib.Parallel()(joblib.delayed(np.sum)(X) for _ in range(4))
        assert len([key for key in keys(client) if not key.startswith("parjob-")]) == 1
    assert out == [X.sum()] * 4
    end = time.monotonic() + 10
    while keys(client) and time.monotonic() < end:
        time.sleep(0.02)
    assert keys(client) == []
