"""``example``: batches run on a thread pool of this process.

Replace the executor by your engine: start it in ``start`` (never in ``__init__``), hand
each batch to it in ``submit`` and return a ``concurrent.futures.Future`` of its result,
and release it in ``stop``. The core does batching, ordering, errors and timeouts.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import parjob


class ExampleBackend(parjob.Backend):
    """Batches on a ``ThreadPoolExecutor``; ``thread_name_prefix`` names its threads.

    ``parallel_config("example", thread_name_prefix="mine")`` passes the parameter.
    """

    name = "example"
    uses_threads = True  # workers share the caller's memory
    serializes = False  # batches are handed over as they are, not pickled
    can_interrupt = False  # a running thread cannot be stopped
    default_priority = None  # never the default: users ask for it by name

    def __init__(self, thread_name_prefix: str = "parjob-example") -> None:
        if not isinstance(thread_name_prefix, str):
            raise TypeError(f"thread_name_prefix must be a str, got {thread_name_prefix!r}")
        self.thread_name_prefix = thread_name_prefix
        self._executor: ThreadPoolExecutor | None = None
        self._n_jobs = 0

    def start(self, n_jobs: int, settings: parjob.RunSettings) -> None:
        if self._executor is not None and self._n_jobs == n_jobs:
            return  # called before every call: keep the workers when nothing changed
        self.stop()
        self._executor = ThreadPoolExecutor(n_jobs, thread_name_prefix=self.thread_name_prefix)
        self._n_jobs = n_jobs

    def submit(self, work: Any) -> Future[Any]:
        assert self._executor is not None, "start() must be called before submit()"
        return self._executor.submit(work)

    def stop(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def abort(self) -> None:
        if self._executor is not None:  # cancel what is queued; running threads finish
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
