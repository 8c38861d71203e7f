"""Engines for the joblib-bridge tests: the session's dask cluster (``tests/conftest.py``),
parjob's embedded Ray and a ``local[2]`` SparkSession (shared with the ray and spark
folders when the whole suite runs: the same embedded Ray, the same owned session)."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import Any

import bridge_tasks
import cloudpickle
import pytest
from bridge_helpers import scheduler_keys

cloudpickle.register_pickle_by_value(bridge_tasks)


@pytest.fixture(scope="session")
def ray_engine() -> Iterator[None]:
    from parjob_ray import cluster

    cluster.connect()
    yield
    cluster.close()


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[Any]:
    from parjob_spark import session as sessions

    problem = sessions.java_problem()
    if problem is not None:
        pytest.skip(f"spark tests need Java: {problem}")
    yield sessions.find_session(master="local[2]")
    sessions.close()


#: the engine fixture each backend needs
ENGINES = {"loky": None, "dask": "dask_cluster", "ray": "ray_engine", "spark": "spark_engine"}


@pytest.fixture(params=list(ENGINES))
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each parjob backend the bridge is tested on, with its engine running; on dask,
    nothing may be left on the scheduler after the test (success or error)."""
    engine = ENGINES[request.param]
    if engine is not None:
        request.getfixturevalue(engine)
    yield str(request.param)
    if request.param == "dask":
        from distributed import Client

        client = Client.current()
        end = time.monotonic() + 10
        # collected as tests/dask does: dask's gather of a cancelled task leaves a cycle
        while gc.collect() >= 0 and (left := scheduler_keys(client)) and time.monotonic() < end:
            time.sleep(0.02)
        assert left == [], f"left on the dask scheduler: {left}"
