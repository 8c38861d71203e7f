"""One call per backend instance at a time: a busy instance lends its twin instead.

A backend keeps per-call state on its instance (pending batches, a memory-map folder,
scattered data). When one instance is configured for calls that run at the same time
(``parallel_config(backend=instance)`` around threads), the first call takes the instance
and each other call runs on :meth:`Backend.fresh`, a twin made with the same arguments,
so no call can stop, abort or clean up another's work.
"""

from __future__ import annotations

from parjob.backend import Backend

#: the instances taken, by id (held only until they are given back): each entry is the
#: taker's own tuple, so that one ``setdefault`` (atomic) both checks and takes
_busy: dict[int, tuple[Backend]] = {}


def take(backend: Backend) -> Backend:
    """The instance a call runs on: ``backend`` when it is free, else a fresh twin."""
    mine = (backend,)
    if _busy.setdefault(id(backend), mine) is mine:
        return backend
    return backend.fresh()


def give_back(backend: Backend, used: Backend) -> None:
    """The call that ran on ``used`` (taken for ``backend``) has ended."""
    if used is backend:
        _busy.pop(id(backend), None)
