"""joblib's dask parameters, with joblib's meaning (issue 17, item 9): ``workers=``,
``resources=``, ``scheduler_host=``, ``scatter=`` checked; and a cluster scaled to zero
grows because parjob submits work instead of waiting for a worker to appear."""

from __future__ import annotations

import os

import dask_tasks as t
import pytest
from dask_helpers import workerless_cluster
from distributed import Client, LocalCluster

from parjob import Parallel, delayed, parallel_config


def test_scatter_that_is_not_a_list_or_tuple_names_what_was_given() -> None:
    with pytest.raises(TypeError, match=r"scatter must be a list or tuple .*got dict"):
        Parallel(backend="dask", scatter={"X": 1})
    with pytest.raises(TypeError, match=r"got str: 'abc'"), parallel_config("dask", scatter="abc"):
        Parallel()


def test_workers_restricts_where_batches_run(client: Client) -> None:
    address, pid = next(iter(client.run(os.getpid).items()))
    with parallel_config("dask", workers=[address]):
        pids = Parallel(batch_size=1)(delayed(t.where)(i) for i in range(6))
    assert set(pids) == {pid}


def test_workers_that_do_not_exist_are_reported() -> None:
    with (
        parallel_config("dask", workers=["tcp://127.0.0.1:1"]),
        pytest.warns(RuntimeWarning, match="none of the dask workers"),
        pytest.raises(TimeoutError),
    ):
        Parallel(timeout=0.5)(delayed(t.square)(i) for i in range(2))


def test_scheduler_host_is_the_address_of_the_scheduler(dask_cluster: LocalCluster) -> None:
    import parjob_dask

    try:
        out = Parallel(backend="dask", scheduler_host=dask_cluster.scheduler_address)(
            delayed(t.square)(i) for i in range(3)
        )
    finally:
        parjob_dask.close()
    assert out == [0, 1, 4]


def test_running_at_once_is_at_most_the_worker_threads() -> None:
    backend = Parallel(backend="dask").backend
    assert backend.running_at_once(8) == 2  # two one-thread workers
    assert backend.running_at_once(1) == 1


def test_a_cluster_scaled_to_zero_grows_for_a_call() -> None:
    cluster = workerless_cluster()
    try:
        cluster.adapt(minimum=0, maximum=2, interval="100ms")
        with Client(cluster, set_as_default=False) as client:
            assert sum(client.nthreads().values()) == 0
            with parallel_config("dask", client=client, wait_for_workers_timeout=30):
                out = Parallel()(delayed(t.square)(i) for i in range(8))
            assert out == [i * i for i in range(8)]
    finally:
        cluster.close()
