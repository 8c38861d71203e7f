"""Thread pools kept between calls, as process workers are: a threading call then costs
a few queue operations instead of starting and joining threads (scikit-learn makes
thousands of small calls; joblib#1830).

A call takes a pool of its size for itself (:func:`take`) and gives it back at its end
(:func:`give_back`); concurrent and nested calls therefore never share threads (a nested
call waiting on a pool its own task occupies would deadlock). A pool whose call was
aborted (its threads may still be running a task) is shut down instead. At most
``MAX_IDLE`` pools are kept, and none longer than ``IDLE_SECONDS`` unused; idle threads
sleep on their queue, and the standard library's exit hook ends them when the interpreter
exits, so keeping them never delays exit. A forked child starts with none.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

MAX_IDLE = 4
IDLE_SECONDS = 300.0

_lock = threading.Lock()
#: idle pools, oldest first: (size, pool, when it was given back)
_idle: list[tuple[int, ThreadPoolExecutor, float]] = []


def _forget_after_fork() -> None:
    """A forked child inherits the list, not the threads: its pools would never run."""
    global _lock
    _lock = threading.Lock()
    _idle.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def take(size: int) -> ThreadPoolExecutor:
    """An idle pool of ``size`` threads, or a new one."""
    expired = []
    pool = None
    with _lock:
        if _idle:
            # pools are given back in time order: the expired ones come first
            cut = time.monotonic() - IDLE_SECONDS
            while _idle and _idle[0][2] < cut:
                expired.append(_idle.pop(0)[1])
            for k in range(len(_idle) - 1, -1, -1):
                if _idle[k][0] == size:
                    pool = _idle.pop(k)[1]
                    break
    for old in expired:
        old.shutdown(wait=False)
    return pool or ThreadPoolExecutor(size, thread_name_prefix="parjob-thread")


def give_back(size: int, pool: ThreadPoolExecutor) -> None:
    """Keep ``pool`` (idle: its call has finished) for a later call of the same size."""
    with _lock:
        _idle.append((size, pool, time.monotonic()))
        dropped = _idle[:-MAX_IDLE] if len(_idle) > MAX_IDLE else []
        del _idle[: len(dropped)]
    for _, old, _ in dropped:
        old.shutdown(wait=False)


def discard_idle(wait: bool = True) -> None:
    """Shut every kept pool down (tests, or to free the threads at once)."""
    with _lock:
        pools = [pool for _, pool, _ in _idle]
        _idle.clear()
    for pool in pools:
        pool.shutdown(wait=wait)
