"""``sequential``: every task runs in the caller, one after the other (for debugging)."""

from __future__ import annotations

from concurrent.futures import Future

from parjob.backend import Backend, Work
from parjob.tasks import BatchResult


class SequentialBackend(Backend):
    """Runs each batch inline in ``submit``; the core runs its tasks without batching."""

    name = "sequential"
    uses_threads = True  # the caller's own thread: memory is shared
    serializes = False
    target_batch_seconds = 0.0

    def capacity(self) -> int:
        return 1

    def effective_n_jobs(self, n_jobs: int) -> int:
        return 1

    def nested(self, n_jobs: int) -> tuple[str, int]:
        return ("sequential", 1)

    def submit(self, work: Work) -> Future[BatchResult]:
        future: Future[BatchResult] = Future()
        try:
            future.set_result(work())
        except BaseException as exc:  # the core re-raises the task's own exception
            future.set_exception(exc)
        return future
