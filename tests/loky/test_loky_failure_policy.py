"""The failure policy on worker processes: a stuck worker killed, crash retries, Ctrl-C."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from loky_tasks import gone, pid_after, wait_gone

from parjob import Parallel, TaskError, TaskTimeoutError, WorkerCrashedError, delayed
from parjob.testing import exit_on


def exit_first_time(path: str) -> int:
    """Its worker dies on the first run (leaving ``path``); the next run returns its pid."""
    if not os.path.exists(path):
        Path(path).write_text("died")
        os._exit(3)
    return os.getpid()


@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_timeout_under_collect_kills_the_stuck_worker(backend: str) -> None:
    out = Parallel(n_jobs=2, backend=backend, timeout=1.0, on_error="collect", batch_size=1)(
        delayed(pid_after)(60 if i == 1 else 0.01) for i in range(4)
    )
    late = out[1]
    assert isinstance(late, TaskError) and isinstance(late.exception, TaskTimeoutError)
    assert all(isinstance(pid, int) for k, pid in enumerate(out) if k != 1)
    assert Parallel(n_jobs=2, backend=backend)(delayed(abs)(-i) for i in range(3)) == [0, 1, 2]


def test_a_worker_that_died_once_is_retried(tmp_path: Path) -> None:
    out = Parallel(n_jobs=2, backend="loky", retries=1, batch_size=1)(
        delayed(exit_first_time)(str(tmp_path / f"died-{i}")) if i == 1 else delayed(abs)(-i)
        for i in range(4)
    )
    assert out[0] == 0 and out[2:] == [2, 3] and isinstance(out[1], int)


def test_a_task_that_kills_every_worker_stops_being_retried() -> None:
    out = Parallel(n_jobs=2, backend="loky", retries=5, on_error="collect", batch_size=1)(
        delayed(exit_on)(i, 1) for i in range(3)
    )
    error = out[1]
    assert isinstance(error, TaskError) and isinstance(error.exception, WorkerCrashedError)
    assert error.attempts == 2  # not 6: its worker died on each of two runs
    assert "exited with code 3" in str(error.exception)
    assert out[0] == 0 and out[2] == 2


def test_a_crashed_batch_of_several_tasks_is_split_to_find_the_culprit() -> None:
    out = Parallel(n_jobs=2, backend="loky", on_error="collect", batch_size=5)(
        delayed(exit_on)(i, 7) for i in range(10)
    )
    assert [k for k, r in enumerate(out) if isinstance(r, TaskError)] == [7]
    assert [r for k, r in enumerate(out) if k != 7] == [0, 1, 2, 3, 4, 5, 6, 8, 9]


# -- Ctrl-C ----------------------------------------------------------------------------------
INTERRUPTED = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    import psutil
    from parjob import Parallel, delayed

    def main(backend):
        Parallel(n_jobs=2, backend=backend)(delayed(abs)(-i) for i in range(4))  # warm
        children = {p.pid for p in psutil.Process().children(recursive=True)}
        timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            Parallel(n_jobs=2, backend=backend)(delayed(time.sleep)(600) for _ in range(6))
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        # the next call runs at once: no worker is still busy with the 600 s tasks
        again = Parallel(n_jobs=2, backend=backend)(delayed(abs)(-i) for i in range(4))
        assert again == [0, 1, 2, 3]
        print("next call", flush=True)
        print("pids", " ".join(map(str, children)), flush=True)

    if __name__ == "__main__":
        main(sys.argv[1])
    """
)


@pytest.mark.parametrize("backend", ["loky", "threading", "dask"])
def test_ctrl_c_stops_the_call_and_the_program_exits(backend: str, tmp_path: Path) -> None:
    if backend == "dask":
        pytest.importorskip("parjob_dask")
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED)
    # six 600 s tasks: without a working Ctrl-C this would hang until the timeout fails it
    done = subprocess.run(
        [sys.executable, str(script), backend], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[:2] == ["interrupted", "next call"], done.stdout
    pids = {int(p) for p in lines[2].split()[1:]}
    assert wait_gone(pids) == set()  # and nothing the call started is left running
    assert all(gone(p) for p in pids)
