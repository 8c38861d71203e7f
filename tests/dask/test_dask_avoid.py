"""A retry runs on another dask worker; a worker's death is charged to the task that
caused it, not to the tasks queued behind it (``parjob_dask.placement``, ``.suspects``)."""

from __future__ import annotations

import logging
from pathlib import Path

import dask_tasks as t
from distributed import Client, LocalCluster

from parjob import Parallel, TaskError, WorkerCrashedError, delayed
from parjob.backend import RunSettings
from parjob.tasks import Batch
from parjob.testing_failures import fail_first_run
from parjob_dask import DaskBackend


def test_a_retry_goes_to_the_other_worker(client: Client, tmp_path: Path) -> None:
    backend = DaskBackend()
    assert backend.can_avoid_workers
    for k in range(3):  # dask alone would put it on either worker
        path = tmp_path / f"first-{k}"
        (second,) = Parallel(backend=backend, retries=1)([delayed(fail_first_run)(str(path))])
        assert second.rsplit(":", 1)[0] != path.read_text().rsplit(":", 1)[0]


def test_a_preferred_worker_that_is_gone_does_not_hold_the_batch(client: Client) -> None:
    backend = DaskBackend()
    backend.start(2, RunSettings())
    batch = Batch(0, [(t.square, (3,), {})], ("sequential", 1))
    work = backend.encode(batch)._replace(placed=("tcp://127.0.0.1:9",))  # no such worker
    try:
        assert backend.submit(work).result(timeout=60).results == [9]
    finally:
        backend.stop()


def test_workers_given_by_the_user_keep_their_say(client: Client) -> None:
    address = next(iter(client.nthreads()))
    assert not DaskBackend(workers=[address]).can_avoid_workers


def test_one_worker_cluster_runs_the_retry_there(tmp_path: Path) -> None:
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster, set_as_default=False) as single,
    ):
        backend = DaskBackend(client=single)
        assert not backend.can_avoid_workers
        path = tmp_path / "first"
        (second,) = Parallel(backend=backend, retries=1)([delayed(fail_first_run)(str(path))])
        assert second.rsplit(":", 1)[0] == path.read_text().rsplit(":", 1)[0]


def test_tasks_queued_behind_a_worker_killer_are_not_charged(client: Client) -> None:
    # each task sleeps, so others queue on the worker that exit_late(5) kills; dask's
    # KilledWorker counts that death against them too (the session allows one per task):
    # before parjob_dask.suspects, one of them came back as a crash too (with retries=1
    # it was run again, using up its retry)
    out = Parallel(backend="dask", batch_size=1, on_error="collect")(
        delayed(t.exit_late)(i, 5, 0.1) for i in range(12)
    )
    errors = {i: r for i, r in enumerate(out) if isinstance(r, TaskError)}
    assert list(errors) == [5], errors
    assert isinstance(errors[5].exception, WorkerCrashedError)
    assert errors[5].attempts == 1
    assert [r for i, r in enumerate(out) if i != 5] == [i for i in range(12) if i != 5]
