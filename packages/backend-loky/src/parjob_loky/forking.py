"""Forked workers leave the garbage they inherit alone.

A worker started with ``fork`` gets a copy of the caller's memory, including loky
executors the caller has dropped but not yet collected, and the locks their threads held
at that instant. loky runs ``gc.collect()`` in a worker after its first task; collecting
such an executor fires loky's weakref callback, which takes that executor's shutdown
lock. If one of the caller's threads held it when the fork happened, the worker waits for
it forever (seen with ``max_tasks_per_worker=`` on the ``multiprocessing`` backend, which
forks while earlier workers' executors are still closing).

Freezing the collector in the child (``gc.freeze``) moves every inherited object out of
its reach, as CPython's documentation advises for forked children. Only the forks that
parjob's own pools make are affected: :class:`ProcessPool` sets a flag in the submitting
thread (loky starts its workers in ``submit``), and the child inherits it.

Imported where a pool is made, not with the package: importing loky takes a while.
"""

from __future__ import annotations

import gc
import os
import threading
from concurrent.futures import Future
from typing import Any

from loky import ProcessPoolExecutor

_local = threading.local()


def _freeze_inherited() -> None:
    if getattr(_local, "forking", False):
        gc.freeze()


os.register_at_fork(after_in_child=_freeze_inherited)


class ProcessPool(ProcessPoolExecutor):
    """loky's process executor whose workers, when forked, freeze what they inherited."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        previous = getattr(_local, "forking", False)
        _local.forking = True
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            _local.forking = previous
