"""Each Ray task's CPU share: the CPUs it reserves."""

from __future__ import annotations

from parjob import Parallel, cpu_count, delayed, parallel_config
from parjob.testing_budget import multiply


def test_a_task_reserving_two_cpus_gets_two() -> None:
    with parallel_config("ray", ray_remote_args={"num_cpus": 2}):
        seen = Parallel(batch_size=1)(delayed(multiply)(i) for i in range(2))
    expected = min(2, cpu_count())
    assert {task["cpus"] for task in seen} == {expected}
    assert all(task["blas"] <= expected for task in seen)
