"""``max_tasks_per_worker=``: a worker process is replaced after that many tasks."""

from __future__ import annotations

import gc
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import pytest
from loky_tasks import (
    count_init,
    describe_array,
    gone,
    inits_seen,
    kill_self_on,
    leak,
    loky_workers,
    make_array,
    pid,
    pid_after,
    thread_limits,
    wait_gone,
)

from parjob import (
    Parallel,
    TaskError,
    TaskTimeoutError,
    WorkerCrashedError,
    delayed,
    parallel_config,
)
from parjob_loky import crash

BACKENDS = ["loky", "multiprocessing"]


def _per_worker(pids: list[int]) -> Counter[int]:
    return Counter(pids)


def _live_workers() -> set[int]:
    """Worker processes of this process still running: its loky workers, and the children
    of the fork server (where loky's replacement workers come from)."""
    found = set()
    for child in psutil.Process().children():
        try:
            if "multiprocessing.forkserver" in " ".join(child.cmdline()):
                found.update(c.pid for c in child.children() if not gone(c.pid))
        except psutil.Error:
            continue
    return found | loky_workers()


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_worker_runs_more_than_n_tasks(backend: str) -> None:
    pids = Parallel(n_jobs=2, backend=backend, max_tasks_per_worker=3)(
        delayed(pid)(i) for i in range(12)
    )
    counts = _per_worker(pids)
    assert max(counts.values()) <= 3
    assert len(counts) >= 4  # 12 tasks, 3 at most each: fresh processes took over
    assert os.getpid() not in counts
    assert wait_gone(set(counts)) == set()  # nothing left behind after the call
    records = {int(name) for name in os.listdir(crash.status_folder()) if name.isdigit()}
    assert not records & set(counts)  # nor the crash records of the replaced workers


@pytest.mark.parametrize("return_as", ["list", "generator", "generator_unordered"])
def test_a_leak_is_contained(return_as: str) -> None:
    out = Parallel(n_jobs=2, backend="loky", max_tasks_per_worker=4, return_as=return_as)(
        delayed(leak)(i) for i in range(16)
    )
    seen = list(out)
    assert len(seen) == 16
    assert max(length for _, length in seen) <= 4
    assert max(_per_worker([p for p, _ in seen]).values()) <= 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_initializer_runs_again_in_replacement_workers(backend: str) -> None:
    out = Parallel(
        n_jobs=2,
        backend=backend,
        max_tasks_per_worker=2,
        initializer=count_init,
        initargs=("recycled",),
    )(delayed(inits_seen)(i) for i in range(10))
    assert len({p for p, _ in out}) >= 5
    assert all(ran == 1 for _, ran in out)  # once in each worker, new ones included


def test_workers_forked_while_others_close_never_hang() -> None:
    # each call forks replacements while the executors of replaced workers still close;
    # a fork copied their locks mid-use, and the child's first gc.collect() waited on one
    # (about once in 30 calls before parjob_loky.forking)
    for _ in range(40):
        counts = Parallel(n_jobs=2, backend="multiprocessing", max_tasks_per_worker=2)(
            delayed(gc.get_freeze_count)() for _ in range(6)
        )
        assert all(count > 0 for count in counts)  # what the fork copied stays frozen


def test_large_batches_are_cut_to_fit_and_tasks_still_all_run() -> None:
    out = Parallel(n_jobs=2, backend="loky", max_tasks_per_worker=5, batch_size=50)(
        delayed(leak)(i) for i in range(20)
    )
    assert len(out) == 20 and max(length for _, length in out) <= 5
    assert Parallel(n_jobs=2, backend="loky", max_tasks_per_worker=1000)(
        delayed(abs)(-i) for i in range(3000)
    ) == list(range(3000))


def test_one_worker_still_runs_in_a_worker_process() -> None:
    pids = Parallel(n_jobs=1, backend="loky", max_tasks_per_worker=2)(
        delayed(pid)(i) for i in range(6)
    )
    assert os.getpid() not in pids
    assert max(_per_worker(pids).values()) <= 2 and len(set(pids)) >= 3


def test_a_worker_keeps_its_count_across_calls_in_a_with_block() -> None:
    with Parallel(n_jobs=2, backend="loky", max_tasks_per_worker=3) as parallel:
        first = parallel(delayed(pid)(i) for i in range(4))
        second = parallel(delayed(pid)(i) for i in range(4))
    assert max(_per_worker(first + second).values()) <= 3
    assert wait_gone(set(first + second)) == set()


def test_parallel_config_sets_it_and_the_pool_serves_the_next_call() -> None:
    with parallel_config("loky", n_jobs=2, max_tasks_per_worker=2):
        pids = Parallel()(delayed(pid)(i) for i in range(8))
    assert max(_per_worker(pids).values()) <= 2
    # the next call, without the option, runs on the usual pool
    assert Parallel(n_jobs=2, backend="loky")(delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_crash_is_still_named_and_the_next_call_works(backend: str) -> None:
    with pytest.raises(WorkerCrashedError, match="task 3"):
        Parallel(n_jobs=2, backend=backend, max_tasks_per_worker=2, batch_size=1)(
            delayed(kill_self_on)(i, 3) for i in range(8)
        )
    out = Parallel(n_jobs=2, backend=backend, max_tasks_per_worker=2, on_error="collect")(
        delayed(kill_self_on)(i, 3) for i in range(8)
    )
    assert [k for k, r in enumerate(out) if isinstance(r, TaskError)] == [3]
    assert isinstance(out[3].exception, WorkerCrashedError)
    assert [r for k, r in enumerate(out) if k != 3] == [0, 1, 2, 4, 5, 6, 7]


def test_a_late_task_is_stopped_and_the_others_finish() -> None:
    out = Parallel(
        n_jobs=2,
        backend="loky",
        max_tasks_per_worker=2,
        timeout=1.0,
        on_error="collect",
        batch_size=1,
    )(delayed(pid_after)(60 if i == 1 else 0.01) for i in range(6))
    assert isinstance(out[1], TaskError) and isinstance(out[1].exception, TaskTimeoutError)
    others = [p for k, p in enumerate(out) if k != 1]
    assert all(isinstance(p, int) for p in others)
    assert max(_per_worker(others).values()) <= 2


def test_large_arrays_are_still_memory_mapped() -> None:
    pytest.importorskip("numpy")
    big = make_array(512, 512)  # 2 MiB: over max_nbytes
    out = Parallel(n_jobs=2, backend="loky", max_tasks_per_worker=1)(
        delayed(describe_array)(big) for _ in range(3)
    )
    assert all(seen["type"] == "memmap" for seen in out)


def test_thread_limits_reach_replacement_workers() -> None:
    pytest.importorskip("numpy")
    with parallel_config(inner_max_num_threads=1):
        out = Parallel(n_jobs=2, backend="loky", max_tasks_per_worker=1)(
            delayed(thread_limits)() for _ in range(3)
        )
    assert len({seen["pid"] for seen in out}) == 3
    assert all(seen["env"]["OMP_NUM_THREADS"] == "1" for seen in out)
    assert all(blas == 1 for seen in out for blas in seen["blas"])


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_bad_values_are_refused_before_any_work(bad: Any) -> None:
    with pytest.raises(ValueError, match=f"max_tasks_per_worker must be .*got {bad!r}"):
        Parallel(n_jobs=2, backend="loky", max_tasks_per_worker=bad)
    with pytest.raises(ValueError, match="max_tasks_per_worker must be"):
        parallel_config("loky", max_tasks_per_worker=bad)


@pytest.mark.parametrize("backend", ["threading", "sequential"])
def test_backends_that_cannot_replace_workers_refuse_it(backend: str) -> None:
    with pytest.raises(ValueError, match=r"max_tasks_per_worker=5 .*loky, multiprocessing"):
        Parallel(n_jobs=2, backend=backend, max_tasks_per_worker=5)
    # one worker and no backend named: the call would run in the caller
    with pytest.raises(ValueError, match="max_tasks_per_worker=5"):
        Parallel(max_tasks_per_worker=5)


CTRL_C_SCRIPT = """
import os, sys, time
from parjob import Parallel, delayed

def work(i):
    if i >= 4:  # the first workers each run 2 quick tasks and are replaced
        print(f"worker {os.getpid()}", flush=True)
        time.sleep(120)
    return i

if __name__ == "__main__":
    Parallel(n_jobs=2, backend="loky", max_tasks_per_worker=2, batch_size=1)(
        delayed(work)(i) for i in range(8)
    )
"""


def test_ctrl_c_stops_the_replacement_workers(tmp_path: Path) -> None:
    script = tmp_path / "ctrl_c_recycle.py"
    script.write_text(CTRL_C_SCRIPT)
    caller = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        workers: set[int] = set()
        assert caller.stdout is not None
        while len(workers) < 2:
            line = caller.stdout.readline()
            assert line, caller.stderr.read() if caller.stderr else ""
            workers.update(int(found) for found in re.findall(r"worker (\d+)", line))
        caller.send_signal(signal.SIGINT)
        _, err = caller.communicate(timeout=60)  # a hang fails here
    finally:
        if caller.poll() is None:  # the test failed: leave no process behind either
            caller.kill()
            caller.wait()
            for worker in workers:
                if not gone(worker):
                    os.kill(worker, signal.SIGKILL)
    assert caller.returncode != 0 and "KeyboardInterrupt" in err
    assert wait_gone(workers) == set(), "worker processes survived Ctrl-C"


def test_a_task_error_comes_back_as_itself() -> None:
    with pytest.raises(ZeroDivisionError):
        Parallel(n_jobs=2, backend="loky", max_tasks_per_worker=2)(
            delayed(divmod)(1, i - 5) for i in range(10)
        )


def test_an_abandoned_generator_leaves_no_worker_behind() -> None:
    before = _live_workers()
    out = Parallel(
        n_jobs=2, backend="loky", max_tasks_per_worker=2, return_as="generator", batch_size=1
    )(delayed(pid_after)(0.01 if i < 3 else 5) for i in range(10))
    seen = {next(out) for _ in range(3)}
    running = _live_workers() - before
    out.close()
    assert wait_gone(seen | running) == set()
    assert Parallel(n_jobs=2, backend="loky", max_tasks_per_worker=2)(
        delayed(abs)(-i) for i in range(5)
    ) == [0, 1, 2, 3, 4]
