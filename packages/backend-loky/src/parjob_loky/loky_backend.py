"""``loky``: a reusable pool of worker processes, the default backend when installed.

Built on loky's reusable executor: workers are started on the first call and kept (up to
``idle_worker_timeout`` seconds idle) for the next ones; a call with another ``n_jobs``
resizes the pool instead of restarting it. Workers are fresh interpreters (no fork), and
tasks travel with cloudpickle, so lambdas and functions defined in ``__main__`` work.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from parjob_loky import recycling
from parjob_loky.base import ProcessBackend


class LokyBackend(ProcessBackend):
    """Worker processes from ``loky.get_reusable_executor``, kept between calls."""

    name = "loky"
    default_priority = 100

    def __init__(self, idle_worker_timeout: float = 300.0) -> None:
        super().__init__()
        if not idle_worker_timeout > 0:
            raise ValueError(f"idle_worker_timeout must be > 0, got {idle_worker_timeout!r}")
        self.idle_worker_timeout = idle_worker_timeout

    def _open_executor(self, n_jobs: int) -> Executor:
        from loky import get_reusable_executor

        # Same arguments every time, so loky reuses (and resizes) the pool; the per-call
        # settings (thread limits) travel with each batch instead.
        return get_reusable_executor(max_workers=n_jobs, timeout=self.idle_worker_timeout)

    def _recycling_context(self) -> Any:
        return recycling.fork_server()
