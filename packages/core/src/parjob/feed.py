"""The tasks still to dispatch: read from the caller's iterable, on demand or ahead.

Reading an input of unknown length ahead of dispatch lets the runner see its end coming
and size the last batches from it. Nothing is read before it is asked for, so without
read-ahead the input is consumed exactly as far as ``pre_dispatch`` allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from parjob.tasks import Task


class Feed:
    """``tasks`` handed out in chunks; ``read_ahead`` buffers some before they are taken."""

    def __init__(self, tasks: Iterator[Task]) -> None:
        self._tasks = tasks
        self._ahead: list[Task] = []
        #: tasks taken so far
        self.taken = 0
        #: how many tasks the input holds in all, once its end has been read
        self.total: int | None = None

    def take(self, size: int) -> list[Task]:
        """The next ``size`` tasks, or fewer when the input ends."""
        ahead = self._ahead
        if ahead:
            chunk = ahead[:size]
            del ahead[:size]
            if len(chunk) < size and self.total is None:
                chunk += islice(self._tasks, size - len(chunk))
        elif self.total is None:
            chunk = list(islice(self._tasks, size))
        else:
            chunk = []
        self.taken += len(chunk)
        return chunk

    def read_ahead(self, wanted: int) -> None:
        """Buffer tasks until ``wanted`` are waiting to be taken, or the input ends."""
        missing = wanted - len(self._ahead)
        if missing <= 0 or self.total is not None:
            return
        read = list(islice(self._tasks, missing))
        self._ahead += read
        if len(read) < missing:
            self.total = self.taken + len(self._ahead)

    @property
    def empty(self) -> bool:
        """Whether the input is known to hold no more tasks."""
        return self.total is not None and self.taken == self.total
