"""parjob past one machine: ``local-cluster[2,1,1024]`` (two executor JVMs), run by
test_spark_subprocess.py."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
import spark_tasks
from conftest import SUBPROCESS

from parjob import Parallel, delayed
from parjob.testing import CustomError, raise_custom
from parjob_spark.backend import SparkBackend

pytestmark = pytest.mark.skipif(SUBPROCESS != "cluster", reason="runs in a subprocess")


def _wait_for_executors(spark: Any, count: int) -> None:
    tracker = spark.sparkContext.statusTracker()
    deadline = time.monotonic() + 120
    while len(tracker.getExecutorInfos()) < count + 1 and time.monotonic() < deadline:
        time.sleep(0.2)  # the driver counts as one


def test_n_jobs_minus_one_counts_both_executors(spark: Any) -> None:
    _wait_for_executors(spark, 2)
    assert SparkBackend().effective_n_jobs(-1) == 2
    pids = Parallel(backend="spark", batch_size=1)(
        delayed(spark_tasks.executor_pid)(i) for i in range(8)
    )
    assert len(set(pids)) >= 2


def test_broadcast_array_reaches_both_executors(spark: Any) -> None:
    X = np.arange(1_000_000, dtype=np.float64)
    out = Parallel(backend="spark", batch_size=2)(
        delayed(spark_tasks.first_value)(X, i) for i in range(20)
    )
    assert out == [float(i) for i in range(20)]


def test_error_keeps_type_and_cancels_the_rest(spark: Any) -> None:
    tasks = [delayed(raise_custom)(3)] + [delayed(spark_tasks.slow_then)(i, 2) for i in range(8)]
    with pytest.raises(CustomError):
        Parallel(backend="spark", batch_size=1)(tasks)
    assert Parallel(backend="spark")(delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]


def test_timeout_cancels_the_jobs(spark: Any) -> None:
    with pytest.raises(TimeoutError):
        Parallel(backend="spark", timeout=1, batch_size=1)(
            delayed(spark_tasks.slow_then)(i, 30 if i < 2 else 0) for i in range(4)
        )
    assert Parallel(backend="spark")(delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]


def test_task_resources_through_stage_level_scheduling(spark: Any) -> None:
    out = Parallel(backend="spark", resources={"cpus": 1})(delayed(abs)(-i) for i in range(6))
    assert out == list(range(6))


def test_retries_are_spark_task_retries(spark: Any, tmp_path: Any) -> None:
    marker = str(tmp_path / "attempted")
    assert Parallel(backend="spark", retries=1)([delayed(spark_tasks.fail_once)(marker)]) == ["ok"]
    other = str(tmp_path / "attempted-again")
    with pytest.raises(RuntimeError, match="first attempt"):
        Parallel(backend="spark")([delayed(spark_tasks.fail_once)(other)])
