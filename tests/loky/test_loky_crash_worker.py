"""A dead loky worker is named in its crash error (``WorkerCrashedError.worker``)."""

from __future__ import annotations

from parjob import Parallel, TaskError, WorkerCrashedError, delayed
from parjob.testing import exit_on
from parjob.workerid import process_id


def test_the_dead_worker_is_named() -> None:
    out = Parallel(n_jobs=2, backend="loky", on_error="collect", batch_size=1)(
        delayed(exit_on)(i, 1) for i in range(3)
    )
    error = out[1]
    assert isinstance(error, TaskError) and isinstance(error.exception, WorkerCrashedError)
    pid = error.exception.worker.rsplit(":", 1)[1]
    assert process_id(int(pid)) == error.exception.worker
    assert f"(pid {pid})" in str(error.exception)
    assert out[0] == 0 and out[2] == 2
