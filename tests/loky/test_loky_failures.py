"""Timeouts, crashed workers and Ctrl-C: a clear error at once, and a healthy next call."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
from loky_tasks import (
    crash_after,
    exit_on,
    gone,
    kill_self_on,
    loky_workers,
    pid,
    pid_after,
    segfault,
    sleep_then,
    wait_gone,
)

from parjob import Parallel, ResultSerializationError, WorkerCrashedError, delayed

BACKENDS = ["loky", "multiprocessing"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _healthy(backend: str) -> None:
    assert Parallel(n_jobs=2, backend=backend)(delayed(pid)() for _ in range(4))
    assert Parallel(n_jobs=2, backend=backend)(delayed(divmod)(i, 3) for i in range(9)) == [
        divmod(i, 3) for i in range(9)
    ]


# -- timeouts ------------------------------------------------------------------------------
def test_timeout_stops_the_stuck_worker(backend: str) -> None:
    stuck: set[int] = set()
    if backend == "loky":
        Parallel(n_jobs=2)(delayed(pid)() for _ in range(4))
        stuck = loky_workers(expect=2)
    with pytest.raises(TimeoutError, match="task 1"):
        Parallel(n_jobs=2, backend=backend, timeout=0.5)(
            delayed(sleep_then)(i, 60 if i == 1 else 0) for i in range(4)
        )
    assert wait_gone(stuck) == set()  # the old workers were stopped, the stuck one too
    _healthy(backend)


def test_timeout_in_a_context_manager_then_more_calls(backend: str) -> None:
    with Parallel(n_jobs=2, backend=backend, timeout=2) as parallel:
        with pytest.raises(TimeoutError):
            parallel(delayed(sleep_then)(i, 60) for i in range(2))
        assert parallel(delayed(divmod)(i, 2) for i in range(4)) == [divmod(i, 2) for i in range(4)]


def test_timeout_with_a_generator(backend: str) -> None:
    out = Parallel(n_jobs=2, backend=backend, timeout=0.5, return_as="generator")(
        delayed(sleep_then)(i, 60 if i == 3 else 0) for i in range(6)
    )
    assert next(out) == 0
    with pytest.raises(TimeoutError):
        list(out)
    _healthy(backend)


# -- crashes ---------------------------------------------------------------------------------
def test_exit_names_the_task_and_the_code(backend: str) -> None:
    with pytest.raises(WorkerCrashedError) as info:
        Parallel(n_jobs=2, backend=backend, batch_size=1)(delayed(exit_on)(i, 5) for i in range(10))
    message = str(info.value)
    assert "task 5 (exit_on)" in message
    assert "exited with code 3" in message
    _healthy(backend)


def test_sigkill_names_the_task_and_the_signal(backend: str) -> None:
    with pytest.raises(WorkerCrashedError) as info:
        Parallel(n_jobs=2, backend=backend, batch_size=1)(
            delayed(kill_self_on)(i, 2) for i in range(6)
        )
    message = str(info.value)
    assert "task 2 (kill_self_on)" in message
    assert "SIGKILL" in message
    _healthy(backend)


def test_segfault_is_reported(backend: str) -> None:
    with pytest.raises(WorkerCrashedError, match=r"task 0 .*SIGSEGV"):
        Parallel(n_jobs=2, backend=backend)(delayed(segfault)() for _ in range(1))
    _healthy(backend)


def test_the_crashed_task_is_named_not_an_earlier_slow_one(backend: str) -> None:
    # task 0 is still running on the other worker when task 1's worker dies: the pool fails
    # both, and the error must name task 1
    tasks = [delayed(pid_after)(3), delayed(crash_after)(0.3, 9)]
    with pytest.raises(WorkerCrashedError) as info:
        Parallel(n_jobs=2, backend=backend, batch_size=1)(tasks)
    assert "task 1 (crash_after)" in str(info.value)
    assert "exited with code 9" in str(info.value)
    _healthy(backend)


def test_crash_in_a_context_manager_then_more_calls(backend: str) -> None:
    with Parallel(n_jobs=2, backend=backend) as parallel:
        with pytest.raises(WorkerCrashedError):
            parallel(delayed(exit_on)(i, 0) for i in range(2))
        assert parallel(delayed(divmod)(i, 2) for i in range(4)) == [divmod(i, 2) for i in range(4)]


def test_a_worker_killed_while_idle_is_replaced() -> None:
    Parallel(n_jobs=2)(delayed(pid)() for _ in range(4))
    victims = loky_workers(expect=2)
    for victim in victims:
        os.kill(victim, signal.SIGKILL)
    assert wait_gone(victims) == set()
    assert Parallel(n_jobs=2)(delayed(divmod)(i, 2) for i in range(4)) == [
        divmod(i, 2) for i in range(4)
    ]


# -- Ctrl-C ------------------------------------------------------------------------------------
CTRL_C_SCRIPT = """
import os, sys, time
import numpy as np
from parjob import Parallel, delayed

def work(array, i):
    print(f"worker {os.getpid()}", flush=True)
    time.sleep(120)
    return i

if __name__ == "__main__":
    big = np.ones(1024 * 1024)
    Parallel(n_jobs=2, backend=sys.argv[1], temp_folder=sys.argv[2], batch_size=1)(
        delayed(work)(big, i) for i in range(8)
    )
"""


def test_ctrl_c_stops_workers_and_cleans_up(backend: str, tmp_path: Path) -> None:
    script = tmp_path / "ctrl_c.py"
    script.write_text(CTRL_C_SCRIPT)
    folder = tmp_path / "temp"
    folder.mkdir()
    caller = subprocess.Popen(
        [sys.executable, str(script), backend, str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        workers = set()
        assert caller.stdout is not None
        while len(workers) < 2:
            line = caller.stdout.readline()
            assert line, caller.stderr.read() if caller.stderr else ""
            # two workers print at once: their lines may interleave
            workers.update(int(found) for found in re.findall(r"worker (\d+)", line))
        assert os.listdir(folder)  # the array's folder exists while tasks run
        caller.send_signal(signal.SIGINT)
        _, err = caller.communicate(timeout=60)  # a hang fails here
    finally:
        if caller.poll() is None:  # the test failed: leave no process behind either
            leftovers = psutil.Process(caller.pid).children(recursive=True)
            caller.kill()
            caller.wait()
            for process in leftovers:
                process.kill()
    assert caller.returncode != 0
    assert "KeyboardInterrupt" in err
    assert wait_gone(workers) == set(), "worker processes survived Ctrl-C"
    assert all(gone(worker) for worker in workers)
    assert os.listdir(folder) == []


MAIN_ERROR_SCRIPT = """
import sys
import threading
from parjob import Parallel, delayed

class MyError(Exception):
    pass

def boom(x):
    raise MyError(f"boom {x}")

try:
    Parallel(n_jobs=2, backend=sys.argv[1])(delayed(boom)(i) for i in range(3))
except MyError as exc:
    print("caught", type(exc).__name__, exc)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_exception_class_defined_in_main_comes_back_as_itself(
    backend: str, tmp_path: Path
) -> None:
    # a script's (or a notebook's) own exception class is caught by `except MyError`
    script = tmp_path / "script.py"
    script.write_text(MAIN_ERROR_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), backend], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert re.match(r"caught MyError boom \d", done.stdout), done.stdout + done.stderr


def lock_on_one(x: int) -> object:
    return threading.Lock() if x == 1 else x


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unpicklable_result_names_its_task_and_is_a_type_error(backend: str) -> None:
    with pytest.raises(ResultSerializationError, match=r"task 1 \(lock_on_one\)") as info:
        Parallel(n_jobs=2, backend=backend, batch_size=1)(delayed(lock_on_one)(i) for i in range(4))
    assert isinstance(info.value, TypeError) and not isinstance(info.value, WorkerCrashedError)
