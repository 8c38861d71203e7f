"""``threading``: a thread pool in the calling process.

Cheap to start and to submit to, and memory is shared with the caller; best when tasks
release the GIL (NumPy, I/O, compiled code). Pools are kept between calls
(``parjob.backends.threadpools``). A running thread cannot be stopped: on a timeout or an
error, queued batches are cancelled, running ones finish in the background, and that pool
is not kept.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from parjob.backend import Backend, RunSettings, Work
from parjob.backends import threadpools
from parjob.backends.abandoned import let_exit_without
from parjob.tasks import BatchResult


class ThreadingBackend(Backend):
    """A :class:`~concurrent.futures.ThreadPoolExecutor` of ``n_jobs`` threads, taken from
    the kept pools for each call (or ``with Parallel()`` block) and given back after it."""

    name = "threading"
    uses_threads = True
    serializes = False
    target_batch_seconds = 0.02
    default_priority = 10

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._n_jobs = 0

    def start(self, n_jobs: int, settings: RunSettings) -> None:
        if self._executor is not None:
            if self._n_jobs == n_jobs:
                return
            self.stop()
        self._executor = threadpools.take(n_jobs)
        self._n_jobs = n_jobs

    def submit(self, work: Work) -> Future[BatchResult]:
        assert self._executor is not None, "start() must be called before submit()"
        return self._executor.submit(work)

    def stop(self) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            threadpools.give_back(self._n_jobs, executor)

    def abort(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            let_exit_without(self._executor)  # a stuck task must not keep the program alive
            self._executor = None
