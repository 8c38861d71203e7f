"""Clients parjob cannot use, and batches no worker can run: a message that says what is
wrong, never an attribute error, a "worker crash" or a silent wait (issue 16, item 8)."""

from __future__ import annotations

import asyncio

import dask_tasks as t
import pytest
from distributed import Client, LocalCluster

from parjob import BackendError, Parallel, WorkerCrashedError, delayed, parallel_config


def test_a_closed_client_is_named_as_closed(dask_cluster: LocalCluster) -> None:
    closed = Client(dask_cluster, set_as_default=False)
    closed.close()
    with pytest.raises(RuntimeError, match=r"client= .* is closed"):
        Parallel(backend="dask", client=closed)(delayed(t.square)(i) for i in range(2))


def test_an_asynchronous_client_is_refused_with_the_reason(dask_cluster: LocalCluster) -> None:
    async def main() -> None:
        async with Client(dask_cluster.scheduler_address, asynchronous=True) as client:
            Parallel(backend="dask", client=client)(delayed(t.square)(i) for i in range(2))

    with pytest.raises(TypeError, match=r"asynchronous.*needs a synchronous Client"):
        asyncio.run(main())


def test_a_client_closed_during_the_call_is_not_a_worker_crash(
    dask_cluster: LocalCluster,
) -> None:
    client = Client(dask_cluster, set_as_default=False)
    out = Parallel(backend="dask", client=client, return_as="generator", batch_size=1)(
        delayed(t.sleep_then)(i, 0.3) for i in range(12)
    )
    assert next(out) == 0
    client.close()
    # the next batch's submission finds it closed, or a running batch's relay does
    with pytest.raises(
        BackendError, match=r"(was closed while the call was running|is closed)"
    ) as info:
        list(out)
    assert not isinstance(info.value, WorkerCrashedError)


def test_resources_no_worker_has_are_reported() -> None:
    # the session's workers have {"slot": 1} only; dask would wait for a "gpu" worker
    with (
        parallel_config("dask", resources={"gpu": 1}),
        pytest.warns(RuntimeWarning, match=r"no dask worker has the resources \{'gpu': 1\}"),
        pytest.raises(TimeoutError),
    ):
        Parallel(timeout=0.5)(delayed(t.square)(i) for i in range(2))


def test_resources_some_worker_has_give_no_warning(recwarn: pytest.WarningsRecorder) -> None:
    with parallel_config("dask", resources={"slot": 1}):
        assert Parallel()(delayed(t.square)(i) for i in range(3)) == [0, 1, 4]
    assert not [w for w in recwarn if "resources" in str(w.message)]
