"""Task functions and helpers for the tests in tests/loky (workers import this module)."""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
import time
from typing import Any

import psutil

from parjob import Parallel, delayed


def pid(_: Any = None) -> int:
    return os.getpid()


def pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def sleep_then(x: Any, seconds: float) -> Any:
    time.sleep(seconds)
    return x


def exit_on(x: int, bad: int, code: int = 3) -> int:
    if x == bad:
        os._exit(code)
    time.sleep(0.05)
    return x


def kill_self_on(x: int, bad: int) -> int:
    if x == bad:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return x


def segfault(_: Any = None) -> None:
    import ctypes
    import faulthandler

    # a crash on purpose: no fatal-error dump (loky and pytest turn the handler on)
    faulthandler.disable()
    ctypes.string_at(0)


def crash_after(seconds: float, code: int = 5) -> None:
    time.sleep(seconds)
    os._exit(code)


def describe_array(array: Any) -> dict[str, Any]:
    """What a worker sees of an array argument."""
    filename = getattr(array, "filename", None)
    filename = str(filename) if filename is not None else None
    folder = os.path.dirname(filename) if filename else None
    return {
        "type": type(array).__name__,
        "filename": filename,
        "writeable": bool(array.flags.writeable),
        "folder": folder,
        "folder_mode": stat.S_IMODE(os.stat(folder).st_mode) if folder else None,
        "files": sorted(os.listdir(folder)) if folder else None,
        "sum": float(array.sum()),
        "shape": array.shape,
    }


def column_sum(array: Any, column: int) -> float:
    return float(array[:, column].sum())


def write_into(array: Any, index: int, value: float) -> None:
    array[index] = value


def fail_with_array(array: Any) -> None:
    raise ValueError(f"failed with an array of shape {array.shape}")


def sleep_with_array(array: Any, seconds: float) -> int:
    time.sleep(seconds)
    return int(array.shape[0])


def exit_with_array(array: Any) -> None:
    os._exit(7)


def first_rows(array: Any, rows: int) -> Any:
    return array[:rows]


def thread_limits(_: Any = None) -> dict[str, Any]:
    """The thread limits a worker sees: the variables, and BLAS as threadpoolctl reports it."""
    import numpy  # noqa: F401 - loads BLAS, as a user's task would
    from threadpoolctl import threadpool_info

    blas = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TBB_ENABLE_IPC")
    return {
        "env": {name: os.environ.get(name) for name in names},
        "blas": blas,
        "pid": os.getpid(),
    }


def nested_report(n: int) -> dict[str, Any]:
    """Run a nested Parallel inside a task and report what it used."""
    inner = Parallel(n_jobs=2)
    pids = inner(delayed(pid)() for _ in range(n))
    return {
        "backend": inner.backend.name,
        "outer_pid": os.getpid(),
        "inner_pids": set(pids),
        "threads": threading.active_count(),
        "children": len(psutil.Process().children()),
    }


def nested_call(backend: str, n_jobs: int) -> dict[str, Any]:
    """Run ``Parallel(backend=backend, n_jobs=n_jobs)`` inside a task; report what ran."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inner = Parallel(n_jobs=n_jobs, backend=backend)
        results = inner(delayed(pid)() for _ in range(6))
    return {
        "backend": inner.backend.name,
        "count": len(results),
        "warnings": [str(w.message) for w in caught],
    }


# -- helpers for the tests (run in the caller) ------------------------------------------
def loky_workers(expect: int | None = None, patience: float = 10.0) -> set[int]:
    """Pids of the live loky worker processes of this process; with ``expect``, wait (up to
    ``patience``, only to avoid hanging) until there are that many: a worker that was asked
    to leave takes a moment to exit."""
    deadline = time.monotonic() + patience
    while True:
        found = set()
        for child in psutil.Process().children():
            try:
                if "loky.backend.popen_loky_posix" in child.cmdline() and not gone(child.pid):
                    found.add(child.pid)
            except psutil.Error:
                continue
        if expect is None or len(found) == expect or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def gone(pid_: int) -> bool:
    """The process no longer runs (it does not exist, or is a zombie)."""
    try:
        return psutil.Process(pid_).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: set[int], patience: float = 20.0) -> set[int]:
    """Wait (up to ``patience``, only to avoid hanging) for ``pids`` to end; the survivors."""
    deadline = time.monotonic() + patience
    alive = {p for p in pids if not gone(p)}
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = {p for p in alive if not gone(p)}
    return alive


PYTHON = sys.executable


def make_array(rows: int, cols: int, order: str = "C") -> Any:
    import numpy

    return numpy.arange(rows * cols, dtype=numpy.float64).reshape(rows, cols, order=order)


def make_strided(rows: int) -> Any:
    import numpy

    return numpy.arange(rows * 64, dtype=numpy.float64).reshape(rows, 64)[::2, ::3]


def nested_thread_limits(_: Any = None) -> list[dict[str, Any]]:
    """The thread limits the workers of a nested loky pool see (the pool is shut down
    after, so the worker has no children left for later tests)."""
    from loky import get_reusable_executor

    try:
        return Parallel(n_jobs=2, backend="loky")(delayed(thread_limits)() for _ in range(2))
    finally:
        get_reusable_executor().shutdown(wait=True)


# -- max_tasks_per_worker --------------------------------------------------------------
_LEAK: list[bytes] = []
_INITS: list[str] = []


def leak(_: Any = None) -> tuple[int, int]:
    """A task that leaks memory into a module-level list; returns (pid, list length)."""
    _LEAK.append(bytes(1024))
    return os.getpid(), len(_LEAK)


def count_init(tag: str) -> None:
    _INITS.append(tag)


def inits_seen(_: Any = None) -> tuple[int, int]:
    """(pid, how many times the initializer ran in this worker process)."""
    return os.getpid(), len(_INITS)
