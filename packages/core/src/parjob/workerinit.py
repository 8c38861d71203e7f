"""``initializer=``/``initargs=``: run once per worker before its first task, on any backend.

The call ships the initializer with each batch, under a token made from it (pickled once
in the caller); a worker runs it the first time it sees the token, and never again for
that token. "A worker" is a process for batches that crossed a process boundary (a loky,
multiprocessing, dask, Ray or Spark worker, including one that joins later), and a thread
for thread backends (whose threads are kept between calls). One mechanism, so no backend
has to map it onto its engine's own initializer.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
import uuid
from collections.abc import Callable
from typing import Any

#: tokens whose initializer ran in this process
_ran_here: set[str] = set()
_lock = threading.Lock()


class _PerThread(threading.local):
    def __init__(self) -> None:
        self.ran: set[str] = set()


_per_thread = _PerThread()


class _Where(threading.local):
    portable = False
    state: dict[str, Any] | None = None


_where = _Where()
_process_state: dict[str, Any] = {}


def worker_state() -> dict[str, Any]:
    """A dict private to the worker running this task, kept across its tasks and calls.

    An initializer fills it, tasks read it: one dict per process for workers that are
    processes (loky, multiprocessing, dask, Ray, Spark), one per thread on thread backends
    and in the caller. Unlike a global of a script's ``__main__`` (which process workers
    receive as a copy with every batch), it is the same object for all of a worker's tasks.
    """
    where = _where
    if where.portable:
        return _process_state
    if where.state is None:
        where.state = {}
    return where.state


def entering(portable: bool) -> bool:
    """Note whether the batch now starting crossed a process; returns the previous value."""
    previous = _where.portable
    _where.portable = portable
    return previous


def leaving(previous: bool) -> None:
    _where.portable = previous


def prepare(
    initializer: Callable[..., Any], initargs: tuple[Any, ...], portable: bool
) -> tuple[str, Any]:
    """What batches carry: ``(token, payload)``; the payload is pickled when ``portable``.

    The token is the same for the same initializer and arguments, so a call that repeats
    another's (scikit-learn makes thousands) runs nothing again.
    """
    try:
        import cloudpickle

        payload: Any = cloudpickle.dumps((initializer, initargs), protocol=pickle.HIGHEST_PROTOCOL)
        token = hashlib.sha1(payload).hexdigest()
    except Exception:
        if portable:
            raise
        payload, token = None, uuid.uuid4().hex
    return token, payload if portable else (initializer, initargs)


def ensure(prepared: tuple[str, Any], portable: bool) -> None:
    """Run the initializer in this worker unless it already ran here for this token."""
    token, payload = prepared
    if portable:
        if token in _ran_here:
            return
        with _lock:  # several threads of one worker process (dask): one runs it
            if token in _ran_here:
                return
            initializer, initargs = pickle.loads(payload)
            initializer(*initargs)
            _ran_here.add(token)
        return
    ran = _per_thread.ran
    if token not in ran:
        initializer, initargs = payload
        initializer(*initargs)
        ran.add(token)


def check(initializer: Any, initargs: Any) -> tuple[Any, tuple[Any, ...]]:
    """``initializer`` (None or a callable) and ``initargs`` (a tuple or list)."""
    if initializer is not None and not callable(initializer):
        raise TypeError(f"initializer must be a callable or None, got {initializer!r}")
    if not isinstance(initargs, (tuple, list)):
        raise TypeError(f"initargs must be a tuple of arguments, got {initargs!r}")
    if initargs and initializer is None:
        raise ValueError("initargs were given without an initializer")
    return initializer, tuple(initargs)
