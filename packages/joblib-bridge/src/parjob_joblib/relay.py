"""The thread that runs joblib's completion callbacks for one call.

A backend completes a Future in its engine's thread (dask's event loop, a Spark job's
thread, loky's result thread). joblib's callback records the result and dispatches the next
batch, which would call back into the engine from its own thread; so callbacks are handed
to this thread instead, in the order the batches finished.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

_STOP = object()


class Relay:
    """A daemon thread calling ``callback(future)`` for each future handed to :meth:`put`."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="parjob-joblib-relay", daemon=True)
        self._thread.start()

    def on_done(self, future: Future[Any], callback: Callable[[Any], Any]) -> None:
        """Call ``callback(future)`` in the relay thread once ``future`` is done."""
        future.add_done_callback(lambda done: self._queue.put((callback, done)))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            callback, future = item
            # joblib records outcomes itself: an error here must not end the thread
            with contextlib.suppress(BaseException):
                callback(future)

    def close(self) -> None:
        """End the thread once the callbacks already queued have run.

        Not joined: a callback still dispatching may be waiting for joblib's lock, which the
        closing thread's caller can hold; the thread ends right after it.
        """
        self._queue.put(_STOP)
