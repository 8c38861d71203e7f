"""parjob's own dask cluster keeps its size.

When a worker leaves the scheduler and is not back within dask's
``distributed.deploy.lost-worker-timeout`` (15 s by default: a restart on a busy machine,
or a worker killed again and again), ``LocalCluster`` closes its nanny for good. The
cluster then shrinks with each such loss, and a call made once all are gone waits for
workers that never come. Before each call on parjob's own cluster, :func:`keep_size`
replaces each lost worker's entry in the cluster's spec by a new one (a new name, so the
new worker is never mistaken for the old one still closing) and waits until they have
started. A cluster the user made is never resized.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

from parjob_dask.cluster import isolated

if TYPE_CHECKING:
    from distributed import LocalCluster

#: one call at a time replaces the lost workers
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)


def keep_size(local: LocalCluster, wait: float = 60.0) -> None:
    """Replace the workers ``local`` gave up on, and wait up to ``wait`` seconds for the
    new ones to start (a replacement that fails to start is replaced once more)."""
    with _lock:
        for _ in range(2):
            lost = _lost_workers(local)
            if not lost:
                return
            size = len(local.worker_spec)
            for name in lost:
                local.worker_spec.pop(name, None)
            isolated(local.scale, size)
            deadline = time.monotonic() + wait
            while _starting(local) and time.monotonic() < deadline:
                time.sleep(0.05)


def _lost_workers(local: LocalCluster) -> list[Any]:
    """The names in ``local``'s spec whose nanny is gone or not running."""
    try:
        if local.status.name != "running":
            return []  # closing: the call will say so
        workers = dict(local.workers)
        return [
            name
            for name in list(local.worker_spec)
            if getattr(getattr(workers.get(name), "status", None), "name", None) != "running"
        ]
    except Exception:  # changed by the cluster's loop meanwhile: try again next call
        return []


def _starting(local: LocalCluster) -> bool:
    """Whether a worker in ``local``'s spec has no nanny yet (it is being started); False
    when that cannot be read, so a cluster that changed under us never holds the call."""
    try:
        return local.status.name == "running" and not set(local.worker_spec) <= set(
            dict(local.workers)
        )
    except Exception:
        return False
