"""scikit-learn under ``parjob.parallel_config(<backend>)`` runs on that parjob backend:
the same results as a sequential run, and every fit in a worker of that backend."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
from bridge_tasks import LoggedLogistic, where
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, cross_val_score

from parjob import parallel_config

X, y = load_iris(return_X_y=True)
GRID = {"C": [0.1, 1.0, 10.0]}
KIND = {"loky": "pid", "dask": "dask", "ray": "ray", "spark": "spark"}


def assert_ran_on(backend: str, places: list[str]) -> None:
    here = where()
    assert places and here not in places, f"some work ran in the caller: {places}"
    assert {place.split()[0] for place in places} == {KIND[backend]}, places


def test_grid_search_runs_on_the_backend(backend: str, tmp_path: Path) -> None:
    log = tmp_path / "fits.log"
    expected = GridSearchCV(LoggedLogistic(), GRID, cv=3).fit(X, y)
    with parallel_config(backend, n_jobs=2):
        search = GridSearchCV(LoggedLogistic(log=str(log)), GRID, cv=3, refit=False).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"]
    )
    places = log.read_text().split("\n")[:-1]
    assert len(places) == 9  # 3 values of C x 3 folds
    assert_ran_on(backend, places)


def test_cross_val_score_and_plain_joblib(backend: str) -> None:
    expected = cross_val_score(LoggedLogistic(), X, y, cv=4)
    with parallel_config(backend):
        scores = cross_val_score(LoggedLogistic(), X, y, cv=4, n_jobs=2)
        places = joblib.Parallel(n_jobs=2)(joblib.delayed(where)(i) for i in range(6))
    np.testing.assert_allclose(scores, expected)
    assert_ran_on(backend, places)


def test_random_forest_with_n_jobs(backend: str) -> None:
    expected = RandomForestClassifier(n_estimators=8, random_state=0).fit(X, y).predict(X)
    with parallel_config(backend):
        forest = RandomForestClassifier(n_estimators=8, random_state=0, n_jobs=2).fit(X, y)
        predicted = forest.predict(X)
    np.testing.assert_array_equal(predicted, expected)


def test_a_failing_task_raises_its_own_error_with_the_workers_traceback(backend: str) -> None:
    from bridge_tasks import fail

    with parallel_config(backend), pytest.raises(KeyError, match="task 3 fails") as info:
        joblib.Parallel(n_jobs=2)(joblib.delayed(fail)(i) for i in range(6))
    assert "fail" in str(info.value.__cause__)  # the remote traceback
