"""Parallel calls inside tasks: what runs there, and what cannot start there.

A task's batch carries its backend's nested choice (:class:`~parjob.config.Nested`): the
backend and n_jobs that ``Parallel`` calls inside the task default to, whether the worker
may start processes of its own, and how deep it is. A call there that names a backend which cannot
start where it is (processes in a daemonic process, or in a forked worker) never hangs
or crashes: it runs on the worker's nested choice instead (its own engine, threads, or
inline), with a warning naming what was asked and what runs whenever that is less
parallel than asked. The rule lives here, once; a backend only states its capabilities
(``Backend.uses_threads``, ``Backend.local``, ``Backend.workers_start_processes``).
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from typing import Any

from parjob import config, workerside
from parjob.backend import Backend
from parjob.warn import warn_user


def nested_for(backend: Backend, n_jobs: int) -> tuple[Any, ...]:
    """The :class:`~parjob.config.Nested` record (as a plain tuple, cheap to pickle) for
    tasks that ``backend`` runs with ``n_jobs`` workers."""
    name, inner_n_jobs = backend.nested(n_jobs)
    processes = bool(getattr(backend, "workers_start_processes", True))
    return (name, inner_n_jobs, backend.name, processes, workerside.nesting_level() + 1)


def starts_processes(backend: Backend) -> bool:
    """The backend starts worker processes on this machine."""
    return backend.local and not backend.uses_threads


def blocked_here(backend: Backend) -> str | None:
    """Why ``backend`` cannot start its workers in this process, or None when it can."""
    if not starts_processes(backend):
        return None  # threads, inline, and clusters start anywhere
    if multiprocessing.current_process().daemon:
        reason = "this process is daemonic, and a daemonic process cannot have children"
        if "distributed" in sys.modules:
            reason += (
                " (in a dask worker, set the dask config 'distributed.worker.daemon' to "
                "False to allow it)"
            )
        return reason
    worker = config.worker()
    if worker is not None and not worker.processes:
        return (
            f"this task runs in a worker process of the {worker.outer!r} backend, which "
            "cannot start processes of its own (a forked worker)"
        )
    return None


def runnable(
    backend: Backend,
    n_jobs: int | None,
    make: Callable[[str], Backend],
) -> tuple[Backend, int | None]:
    """``backend`` and ``n_jobs``, or what runs instead where ``backend`` cannot start.

    ``make`` creates a backend by name. The substitute is the worker's nested choice, else
    threads with the same n_jobs; a warning names both when it is less parallel than asked.
    """
    reason = blocked_here(backend)
    if reason is None:
        return backend, n_jobs
    worker = config.worker()
    substitute: Backend | None = None
    sub_n_jobs = n_jobs
    if worker is not None:
        candidate = make(worker.backend)
        if blocked_here(candidate) is None:
            substitute, sub_n_jobs = candidate, worker.n_jobs
    if substitute is None:
        substitute = make("threading")
    _warn_if_less_parallel(backend, n_jobs, substitute, sub_n_jobs, reason)
    return substitute, sub_n_jobs


def _warn_if_less_parallel(
    asked: Backend, n_jobs: int | None, runs: Backend, runs_n_jobs: int | None, reason: str
) -> None:
    asked_workers = asked.effective_n_jobs(n_jobs if n_jobs is not None else 1)
    if not runs.local:
        return  # a cluster: as parallel as the cluster, which is not ours to count
    runs_workers = runs.effective_n_jobs(runs_n_jobs if runs_n_jobs is not None else 1)
    if runs_workers >= asked_workers and not runs.uses_threads:
        return
    if asked_workers == 1 and runs_workers == 1:
        return
    # "<Name>-backed parallel loops cannot" are joblib's words, which callers match on
    warn_user(
        f"{asked.name.capitalize()}-backed parallel loops cannot start workers here: "
        f"{reason}. Parallel(backend={asked.name!r}, n_jobs={n_jobs}) runs on {runs.name!r} "
        f"with {_workers(runs_workers, runs)} instead.",
    )


def _workers(count: int, backend: Backend) -> str:
    if backend.uses_threads and count == 1:
        return "1 worker (inline)"
    kind = "threads" if backend.uses_threads else "workers"
    return f"{count} {kind}"
