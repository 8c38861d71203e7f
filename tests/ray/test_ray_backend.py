"""The ray backend on the session's local Ray: sizing, task options, errors, streaming."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import warnings
from pathlib import Path

import pytest
import ray_tasks

import parjob_ray
from parjob import (
    Parallel,
    WorkerCrashedError,
    delayed,
    effective_n_jobs,
    list_backends,
    parallel_config,
    report,
)
from parjob.errors import RemoteTraceback
from parjob.testing import CustomError


def cluster_cpus() -> int:
    import ray

    return int(ray.cluster_resources()["CPU"])


def test_batches_run_as_ray_tasks() -> None:
    with parallel_config("ray"):
        ids = Parallel()(delayed(ray_tasks.in_ray_task)(i) for i in range(4))
    assert all(ids)


def test_n_jobs_minus_one_is_cluster_cpus_over_task_cpus() -> None:
    with parallel_config("ray"):
        assert effective_n_jobs(-1) == cluster_cpus()
    with parallel_config("ray", ray_remote_args={"num_cpus": 0.5}):
        assert effective_n_jobs(-1) == 2 * cluster_cpus()
        assert Parallel().backend.running_at_once(100) == 2 * cluster_cpus()


def test_remote_args_reach_every_task() -> None:
    with parallel_config("ray", ray_remote_args={"num_cpus": 0.5, "max_retries": 0}):
        seen = Parallel(batch_size=1)(delayed(ray_tasks.resources_seen)(i) for i in range(4))
    assert seen == [{"CPU": 0.5}] * 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"num_cpu": 1}, "does not take 'num_cpu'"),
        ({"num_cpus": -1}, "num_cpus"),
        ({"num_cpus": 0}, "asks for no CPU"),
        ({"resources": {"slot": "one"}}, "resources"),
        ([("num_cpus", 1)], "dict"),
    ],
)
def test_bad_remote_args_are_refused_before_any_work(args: object, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        Parallel(backend="ray", ray_remote_args=args)


def test_explicit_n_jobs_caps_tasks_in_flight(tmp_path: Path) -> None:
    # every task records when it ran; with n_jobs=1 no two overlap although the cluster
    # has room for more
    spans = Parallel(backend="ray", n_jobs=1, batch_size=1)(
        delayed(ray_tasks.span)(0.05) for _ in range(6)
    )
    spans.sort()
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


def test_task_error_is_the_users_type_with_remote_traceback() -> None:
    with pytest.raises(CustomError) as info:
        Parallel(backend="ray")(delayed(ray_tasks.boom_on)(i, 5) for i in range(20))
    assert type(info.value) is CustomError  # not a RayTaskError wrapper
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "boom_on" in str(info.value.__cause__)
    assert info.value.code == 5


def test_error_cancels_the_other_tasks() -> None:
    # the long tasks would hold the CPUs for a minute: the fixture sees them cancelled
    tasks = [delayed(ray_tasks.boom_on)(0, 0)] + [delayed(ray_tasks.spin)(60) for _ in range(3)]
    with pytest.raises(CustomError):
        Parallel(backend="ray", batch_size=1)(tasks)


def test_timeout_cancels_and_ray_stays_usable() -> None:
    with pytest.raises(TimeoutError):
        Parallel(backend="ray", timeout=0.5)(delayed(ray_tasks.spin)(60) for _ in range(2))
    assert Parallel(backend="ray")(delayed(ray_tasks.square)(i) for i in range(4)) == [0, 1, 4, 9]


def test_ctrl_c_cancels_and_ray_stays_usable() -> None:
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            Parallel(backend="ray", batch_size=1)(delayed(ray_tasks.spin)(60) for _ in range(4))
    finally:
        timer.cancel()
    assert Parallel(backend="ray")(delayed(ray_tasks.square)(i) for i in range(4)) == [0, 1, 4, 9]


def test_abandoned_generator_cancels_its_tasks() -> None:
    out = Parallel(backend="ray", return_as="generator", batch_size=1)(
        delayed(ray_tasks.spin)(0 if i == 0 else 60) for i in range(6)
    )
    assert next(out) == 0
    out.close()


@pytest.mark.parametrize("return_as", ["generator", "generator_unordered"])
def test_results_stream_while_other_tasks_run(tmp_path: Path, return_as: str) -> None:
    # the last task waits until the caller has received the others: without streaming it
    # would give up waiting and say so
    gate = str(tmp_path / "gate")
    tasks = [delayed(ray_tasks.square)(i) for i in range(5)]
    tasks.append(delayed(ray_tasks.wait_for_file)(gate, 60))
    out = Parallel(backend="ray", return_as=return_as, batch_size=1)(tasks)
    first = [next(out) for _ in range(5)]
    Path(gate).touch()
    assert sorted(first) == [0, 1, 4, 9, 16]
    assert list(out) == ["gate opened"]


def test_killed_worker_is_retried_as_max_retries_says(tmp_path: Path) -> None:
    marker = str(tmp_path / "died")
    with parallel_config("ray", ray_remote_args={"max_retries": 1}):
        assert Parallel(batch_size=1)(delayed(ray_tasks.die_once)(marker, 7) for _ in range(1)) == [
            7
        ]
    assert Path(marker).exists()


def test_killed_worker_without_retries_raises_crash_error_naming_the_task() -> None:
    with (
        parallel_config("ray", ray_remote_args={"max_retries": 0}),
        pytest.raises(WorkerCrashedError, match=r"task 0 \(die\)"),
    ):
        Parallel(batch_size=1)(delayed(ray_tasks.die)(i) for i in range(1))
    assert Parallel(backend="ray")(delayed(ray_tasks.square)(i) for i in range(3)) == [0, 1, 4]


@pytest.mark.timeout(180)
def test_nested_calls_several_levels_deep_do_not_deadlock() -> None:
    # 3 levels of 2-task calls on a 2-CPU Ray: every level waits for the next; without
    # Ray lending a waiting task's CPU, the outer tasks would hold them all
    with parallel_config("ray"):
        assert Parallel(batch_size=1)(delayed(ray_tasks.nested)(3, 2) for _ in range(2)) == [8, 8]


def test_register_ray_says_it_is_not_needed_once() -> None:
    parjob_ray._said = False
    with pytest.warns(UserWarning, match="not needed"):
        parjob_ray.register_ray()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parjob_ray.register_ray()


def test_parjob_backends_says_ray_can_run_here() -> None:
    assert report.can_run("ray") == "yes"
    assert "ray" in list_backends()


def test_embedded_ray_is_sized_to_the_machine_and_on_loopback() -> None:
    import ray

    from parjob import cpu_count

    first = Parallel(backend="ray")(delayed(ray_tasks.node_id)(i) for i in range(2))
    second = Parallel(backend="ray")(delayed(ray_tasks.node_id)(i) for i in range(2))
    assert len(set(first + second)) == 1  # one Ray, reused across calls
    assert cluster_cpus() == cpu_count()
    nodes = [node for node in ray.nodes() if node["Alive"]]
    assert [node["NodeManagerAddress"] for node in nodes] == ["127.0.0.1"]
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
