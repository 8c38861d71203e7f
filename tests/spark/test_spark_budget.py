"""Each Spark task's CPU share: the cores it takes (1 on local[2])."""

from __future__ import annotations

from typing import Any

from parjob import Parallel, delayed, parallel_config
from parjob.testing_budget import nested_multiply


def test_nested_calls_in_a_task_on_local_2_run_on_its_one_core(spark: Any) -> None:
    with parallel_config("spark"):
        seen = Parallel(batch_size=1)(delayed(nested_multiply)(i) for i in range(2))
    for task in seen:
        assert task["cpus"] == 1
        assert [inner["blas"] for inner in task["inner"]] == [1] * 4
