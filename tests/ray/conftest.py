"""One real local Ray for the whole session: parjob's embedded one, started once.

After every test nothing of parjob may be left on it: no task holding a CPU, and no
object the test process still owns (tasks' results and stored arguments released after
success, error, timeout, Ctrl-C and abandoned generators).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import cloudpickle
import pytest
import ray_tasks

import parjob_ray
from parjob_ray import cluster

# the tests' task functions travel by value: Ray workers cannot import this folder
cloudpickle.register_pickle_by_value(ray_tasks)


@pytest.fixture(scope="session", autouse=True)
def ray_session() -> Iterator[None]:
    cluster.connect()  # the embedded Ray, as a user without a cluster gets it
    assert cluster.started_by_parjob()
    try:
        yield
    finally:
        parjob_ray.close()


def owned_objects() -> dict[bytes, dict[str, int]]:
    """Objects this process still holds references to. Ray has no public API for this
    without its dashboard (which the embedded Ray does not run): ask the core worker."""
    import ray

    return dict(ray._private.worker.global_worker.core_worker.get_all_reference_counts())


def wait_until_idle(deadline: float = 20.0) -> tuple[float, dict[bytes, dict[str, int]]]:
    """Poll until every CPU is free and no object is held; what is left after ``deadline``."""
    import ray

    end = time.monotonic() + deadline
    while True:
        gc.collect()
        busy = ray.cluster_resources().get("CPU", 0) - ray.available_resources().get("CPU", 0)
        objects = owned_objects()
        if (busy <= 0 and not objects) or time.monotonic() > end:
            return busy, objects
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def nothing_left_behind(ray_session: None) -> Iterator[None]:
    yield
    busy, objects = wait_until_idle()
    assert busy <= 0, f"{busy} CPUs still held by tasks after the test"
    assert not objects, f"objects still referenced after the test: {objects}"
