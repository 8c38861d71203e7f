"""The spark backend's own behaviour, on the session fixture's real session."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import numpy as np
import pytest
import spark_tasks

from parjob import Parallel, WorkerCrashedError, delayed, parallel_config, plugins
from parjob.tasks import Batch
from parjob_spark import session as sessions
from parjob_spark.backend import SparkBackend


def test_found_through_the_entry_point(spark: Any) -> None:
    assert plugins.entries()["spark"].source == "parjob-spark"


def test_n_jobs_minus_one_is_the_session_slots(spark: Any) -> None:
    backend = SparkBackend()
    assert backend.effective_n_jobs(-1) == sessions.slots(spark) >= 2
    assert backend.running_at_once(64) == sessions.slots(spark)
    assert backend.running_at_once(1) == 1


def test_a_wave_of_batches_is_one_spark_job(spark: Any) -> None:
    if sessions.is_connect(spark):
        pytest.skip("job groups are classic Spark's")
    backend = SparkBackend()
    out = Parallel(backend=backend, n_jobs=2, batch_size=5, pre_dispatch="all")(
        delayed(abs)(-i) for i in range(60)
    )
    assert out == list(range(60))
    group = backend._options.group  # type: ignore[union-attr]
    jobs = spark.sparkContext.statusTracker().getJobIdsForGroup(group)
    assert len(jobs) == 1  # 12 batches, all in the first wave: one job of 12 partitions


def test_results_stream_as_partitions_finish(spark: Any) -> None:
    # the slow first batch's partition is still running when the others come back
    out = Parallel(backend="spark", n_jobs=2, batch_size=1, return_as="generator_unordered")(
        delayed(spark_tasks.slow_then)(i, 3.0 if i == 0 else 0.0) for i in range(6)
    )
    first = next(out)
    assert first != 0
    assert sorted([first, *out]) == list(range(6))


def test_job_group_description_and_pool_reach_the_tasks(spark: Any) -> None:
    if sessions.is_connect(spark):
        pytest.skip("local properties are classic Spark's")
    keys = ["spark.jobGroup.id", "spark.job.description", "spark.scheduler.pool"]
    with parallel_config("spark", pool="etl", description="scoring"):
        group, description, pool = Parallel()(delayed(spark_tasks.local_property)(k) for k in keys)
    assert group.startswith("parjob-")
    assert (description, pool) == ("scoring", "etl")


@pytest.mark.parametrize("mmap_mode", ["r", None])
def test_large_arrays_travel_once_not_in_every_batch(spark: Any, mmap_mode: str | None) -> None:
    # local mode: a memory-mapped file the workers share; mmap_mode=None: a broadcast
    X = np.arange(2_000_000, dtype=np.float64)  # 16 MB
    backend = SparkBackend()
    out = Parallel(backend=backend, batch_size=5, mmap_mode=mmap_mode)(
        delayed(spark_tasks.first_value)(X, i) for i in range(40)
    )
    assert out == [float(i) for i in range(40)]
    # what one batch carries: a reference, not the array
    backend.start(2, Parallel(mmap_mode=mmap_mode).settings)
    try:
        tasks = [(spark_tasks.first_value, (X, i), {}) for i in range(5)]
        work = backend.encode(Batch(0, tasks, ("threading", 1)))
        assert len(work.data) < 10_000
        memmapped = mmap_mode is not None and sessions.local_mode(spark)
        assert len(work.handles) == (0 if memmapped else 1)
    finally:
        backend.stop()


def test_scatter_objects_travel_once(spark: Any) -> None:
    table = {f"k{i}": i for i in range(10_000)}
    backend = SparkBackend(scatter=[table])
    backend.start(2, Parallel().settings)
    try:
        work = backend.encode(Batch(0, [(len, (table,), {})], ("threading", 1)))
        assert len(work.data) < 1_000 and len(work.handles) == 1
    finally:
        backend.stop()
    with parallel_config("spark", scatter=[table]):
        assert Parallel()(delayed(len)(table) for _ in range(6)) == [10_000] * 6


def test_explicit_n_jobs_caps_tasks_in_flight(spark: Any, tmp_path: Any) -> None:
    out = Parallel(backend="spark", n_jobs=1, batch_size=1)(
        delayed(spark_tasks.executor_pid)(i) for i in range(4)
    )
    assert len(out) == 4


def test_nested_parallel_runs_on_the_task_cores(spark: Any) -> None:
    # local[2]: each task takes one core (spark.task.cpus), and its nested calls get it
    ((name, n_jobs),) = Parallel(backend="spark")([delayed(spark_tasks.nested_backend)(0)])
    assert (name, n_jobs) == ("threading", 1)
    with parallel_config(inner_max_num_threads=2):  # a task given two cores uses both
        (distinct,) = Parallel(backend="spark")([delayed(spark_tasks.nested_threads)(4)])
    assert distinct > 1  # not one at a time


def test_abandoned_generator_cancels_the_call_jobs(spark: Any) -> None:
    out = Parallel(backend="spark", n_jobs=2, batch_size=1, return_as="generator")(
        delayed(spark_tasks.slow_then)(i, 0.0 if i == 0 else 5.0) for i in range(6)
    )
    assert next(out) == 0
    out.close()  # the fixture checks that no job or thread of ours is left


def test_usable_from_several_threads_at_once(spark: Any) -> None:
    results: dict[int, list[int]] = {}

    def call(k: int) -> None:
        results[k] = Parallel(backend="spark")(delayed(abs)(-i - k) for i in range(200))

    threads = [threading.Thread(target=call, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {k: [i + k for i in range(200)] for k in range(3)}


def test_bad_parameters_fail_before_any_work(spark: Any) -> None:
    with pytest.raises(ValueError, match="at most one of"):
        SparkBackend(master="local[2]", remote="sc://x")
    with pytest.raises(TypeError, match="pool must be"):
        SparkBackend(pool=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive amount"):
        SparkBackend(resources={"gpus": -1})
    with pytest.raises(TypeError, match="scatter must be"):
        SparkBackend(scatter=np.ones(3))  # type: ignore[arg-type]


def test_resources_in_local_mode_are_refused_clearly(spark: Any) -> None:
    master = "" if sessions.is_connect(spark) else spark.sparkContext.master
    if not master.startswith("local["):
        pytest.skip("local mode only")
    with pytest.raises(ValueError, match="stage-level scheduling"):
        Parallel(backend="spark", resources={"cpus": 1})(delayed(abs)(i) for i in range(3))


def _no_active_jobs(spark: Any, within: float) -> bool:
    tracker = spark.sparkContext.statusTracker()
    deadline = time.monotonic() + within
    while tracker.getActiveJobsIds() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not tracker.getActiveJobsIds()


def test_ctrl_c_cancels_the_running_jobs(spark: Any) -> None:
    if sessions.is_connect(spark):
        pytest.skip("checked through classic Spark's status tracker")
    main = threading.get_ident()
    timer = threading.Timer(1.0, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            Parallel(backend="spark", batch_size=1)(
                delayed(spark_tasks.slow_then)(i, 60) for i in range(4)
            )
    finally:
        timer.cancel()
    assert _no_active_jobs(spark, within=10)  # cancelled, not left to run for a minute
    assert Parallel(backend="spark")(delayed(abs)(-i) for i in range(3)) == [0, 1, 2]


def test_a_dying_python_worker_names_the_tasks(spark: Any) -> None:
    with pytest.raises(WorkerCrashedError, match=r"task 0 \(crash\)"):
        Parallel(backend="spark")([delayed(spark_tasks.crash)(0)])
    assert Parallel(backend="spark")(delayed(abs)(-i) for i in range(3)) == [0, 1, 2]


def test_retries_beyond_what_spark_allows_are_refused_before_any_work(
    spark: Any, tmp_path: Any
) -> None:
    if sessions.max_task_failures(spark) > 1:
        pytest.skip("this session lets Spark retry tasks")
    marker = str(tmp_path / "ran")
    with (
        pytest.raises(ValueError, match=r"spark.task.maxFailures allows 1"),
        parallel_config(SparkBackend(retries=1)),
    ):
        Parallel()([delayed(spark_tasks.fail_once)(marker)])
    assert not (tmp_path / "ran").exists()


def test_parallel_retries_are_the_core_s_on_any_session(tmp_path: Any) -> None:
    # Parallel(retries=) is parjob's own (spark.task.maxFailures does not limit it)
    marker = str(tmp_path / "ran")
    assert Parallel(backend="spark", retries=1)([delayed(spark_tasks.fail_once)(marker)]) == ["ok"]


def test_the_spark_backend_inside_a_spark_task_says_why_not(spark: Any) -> None:
    (message,) = Parallel(backend="spark")([delayed(spark_tasks.spark_inside_a_task)(0)])
    assert "inside a Spark task" in message
