"""Each dask task's CPU share: its host's CPUs over the task threads on that host."""

from __future__ import annotations

from distributed import Client

from parjob import Parallel, cpu_count, delayed, parallel_config
from parjob.testing_budget import multiply
from parjob_dask import workers


def test_share_is_the_hosts_cpus_over_its_task_threads(client: Client) -> None:
    hosts = workers.threads_by_host(client)
    assert list(hosts.values()) == [2]  # the session cluster: 2 workers x 1 thread, here
    with parallel_config("dask"):
        seen = Parallel(batch_size=1)(delayed(multiply)(i) for i in range(4))
    share = max(cpu_count() // 2, 1)
    assert {task["cpus"] for task in seen} == {share}
    assert {task["nested_n_jobs"] for task in seen} == {share}
    assert all(task["blas"] <= share for task in seen)
