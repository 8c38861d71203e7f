"""Nested calls inside dask workers (daemonic processes) never hang or crash (issue 17).

A dask worker cannot start processes: a nested call naming ``loky`` or
``multiprocessing`` runs on the worker's nested choice, the same cluster, when the task
came from parjob; in a task submitted to dask directly it runs on threads, warning once
with the dask setting that lifts the limit.
"""

from __future__ import annotations

import pytest
from dask_tasks import nested_call
from distributed import Client

from parjob import Parallel, delayed

SQUARES = [i * i for i in range(6)]


@pytest.mark.timeout(60)
def test_nested_calls_in_parjob_dask_tasks_run_on_the_cluster_or_as_asked() -> None:
    inners = ["sequential", "threading", "loky", "multiprocessing"]
    reports = Parallel(backend="dask")(delayed(nested_call)(inner, 2) for inner in inners)
    ran = {inner: report["backend"] for inner, report in zip(inners, reports, strict=True)}
    assert ran == {
        "sequential": "sequential",
        "threading": "threading",
        "loky": "dask",
        "multiprocessing": "dask",
    }
    for report in reports:
        assert report["results"] == SQUARES
        assert report["warnings"] == []  # the cluster is not less parallel than two processes


@pytest.mark.timeout(60)
@pytest.mark.parametrize("inner", ["loky", "multiprocessing"])
def test_process_backend_in_a_plain_dask_task_runs_on_threads_with_a_warning(
    client: Client, inner: str
) -> None:
    report = client.submit(nested_call, inner, 2, pure=False).result()
    assert report["backend"] == "threading"
    assert report["results"] == SQUARES
    (message,) = report["warnings"]
    assert "daemonic" in message and "distributed.worker.daemon" in message
    assert f"Parallel(backend={inner!r}, n_jobs=2) runs on 'threading' with 2 threads" in message
