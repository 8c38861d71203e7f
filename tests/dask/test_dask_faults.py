"""Workers dying mid-call: dask reschedules and the call finishes, or it raises a clear
error. Never a hang. (The nanny restarts each killed worker; the autouse fixture waits.)"""

from __future__ import annotations

import os
import signal

import dask_tasks as t
import pytest
from distributed import Client

from parjob import Parallel, WorkerCrashedError, delayed


def test_call_finishes_when_a_worker_is_killed_mid_call(client: Client) -> None:
    out = Parallel(backend="dask", return_as="generator", batch_size=1)(
        delayed(t.sleep_then)(i, 0.2) for i in range(16)
    )
    assert next(out) == 0
    victim = next(iter(client.run(os.getpid).values()))
    os.kill(victim, signal.SIGKILL)
    assert list(out) == list(range(1, 16))  # the lost tasks ran again elsewhere


def test_task_that_keeps_killing_workers_raises_a_clear_error(client: Client) -> None:
    # the session scheduler allows one worker death per task, so the second one fails it.
    # dask counts a death against every task the dead worker held (running, or queued on
    # it), but an innocent batch queued behind `die` is sent again before it is blamed
    # (parjob_dask.suspects): `die` is the one named
    with pytest.raises(WorkerCrashedError, match=r"task 2 \(die\).*KilledWorker"):
        Parallel(backend="dask", batch_size=1)(
            delayed(t.die)() if i == 2 else delayed(t.square)(i) for i in range(4)
        )
