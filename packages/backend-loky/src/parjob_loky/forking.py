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
parjob's own pools make are affected: the flag is set in the submitting thread, and the
child inherits it.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()


def _freeze_inherited() -> None:
    if getattr(_local, "forking", False):
        gc.freeze()


os.register_at_fork(after_in_child=_freeze_inherited)


@contextmanager
def our_forks() -> Iterator[None]:
    """Any worker forked in this block (by a pool's submit) freezes what it inherited."""
    previous = getattr(_local, "forking", False)
    _local.forking = True
    try:
        yield
    finally:
        _local.forking = previous
