"""Which worker ran a batch: ``"host:pid:thread"``, the same form on every backend."""

from __future__ import annotations

import os
import socket
import threading

_host = socket.gethostname()
#: each thread's id, made once (a forked child starts afresh: see _forget_after_fork)
_made = threading.local()


def worker_id() -> str:
    """This thread's id as a worker: host name, process id and native thread id."""
    made: str | None = getattr(_made, "id", None)
    if made is None:
        made = _made.id = f"{_host}:{os.getpid()}:{threading.get_native_id()}"
    return made


def _forget_after_fork() -> None:
    global _made
    _made = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def process_id(pid: int | None = None) -> str:
    """The part of its workers' ids that names this process (or the process ``pid`` on
    this machine): ``"host:pid"``."""
    return f"{_host}:{os.getpid() if pid is None else pid}"


def process_of(worker: str) -> str:
    """The ``"host:pid"`` part of a worker id (an id without its thread part stays as it is):
    what a backend that places work by process compares."""
    return ":".join(worker.split(":", 2)[:2])
