"""Threads a call stopped waiting for (Ctrl-C, an error, a task past its timeout).

A running thread cannot be stopped. The standard thread pool's workers are joined when the
interpreter exits, so one stuck task would keep the program from exiting for as long as it
runs. :func:`let_exit_without` takes a pool's threads off both lists the interpreter joins
at exit: they then end with the interpreter, as daemon threads do.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import thread as _pool_module


def let_exit_without(executor: ThreadPoolExecutor) -> None:
    """Let the interpreter exit without joining ``executor``'s threads (already shut down)."""
    for thread in list(getattr(executor, "_threads", ())):
        with contextlib.suppress(Exception):  # private lists: never fail the caller for them
            _pool_module._threads_queues.pop(thread, None)  # type: ignore[attr-defined]
            lock = getattr(thread, "_tstate_lock", None)
            locks = getattr(threading, "_shutdown_locks", None)
            if lock is not None and locks is not None:
                with threading._shutdown_locks_lock:  # type: ignore[attr-defined]
                    locks.discard(lock)
