"""Batches dask gave up on with ``KilledWorker``: sent again, one at a time, before blame.

When a worker dies, dask counts the death against every task assigned to it: the one
running, and those queued behind it (``distributed.scheduler.allowed-failures``). A batch
queued on two workers that another batch killed therefore comes back as ``KilledWorker``
too, though it never ran. So a batch lost that way is a suspect, not yet the culprit: it
is sent again (a new dask task, whose count starts at zero), and only while no other
suspect is on the cluster, so an innocent one cannot be queued behind the real culprit a
second time. A suspect that comes back as ``KilledWorker`` again, alone, killed those
workers itself: then it is blamed (see ``parjob.crashes``). The culprit costs twice
``allowed-failures + 1`` worker deaths before the call hears of it; sent again by the core
(``retries=``), it is blamed at its next ``KilledWorker``.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future
from typing import Any


class Suspects:
    """A call's suspects: those waiting to be sent again, and the one on the cluster.

    Not thread-safe: the backend calls it with its lock held.
    """

    def __init__(self) -> None:
        self.waiting: deque[tuple[Any, Future[Any]]] = deque()
        self.running: Future[Any] | None = None
        #: hashes of the pickles of the batches blamed: the core's retry of one (pickled
        #: the same) is no suspect
        self.blamed: set[int] = set()

    def held(self, work: Any, future: Future[Any]) -> bool:
        """A batch (``work`` behind ``future``) came back as ``KilledWorker``: True when it
        is held to be sent again; False when it was the suspect sent alone (blame it)."""
        if future is self.running or hash(work.data) in self.blamed:
            if future is self.running:
                self.running = None
            self.blamed.add(hash(work.data))
            return False
        if not future.done():
            self.waiting.append((work, future))
        return True

    def ended(self, future: Future[Any]) -> None:
        """A batch came back otherwise (a result, a task's error): no longer suspected."""
        if future is self.running:
            self.running = None

    def next(self) -> tuple[Any, Future[Any]] | None:
        """The suspect to send now (taking the place on the cluster), or None: none waits,
        or one is still on the cluster."""
        while self.running is None and self.waiting:
            work, future = self.waiting.popleft()
            if not future.done():  # not cancelled by the core meanwhile
                self.running = future
                return work, future
        return None

    def clear(self) -> list[Future[Any]]:
        """Forget every suspect (the call ends); the futures of those still waiting."""
        futures = [future for _, future in self.waiting]
        self.waiting.clear()
        self.running = None
        self.blamed.clear()
        return futures
