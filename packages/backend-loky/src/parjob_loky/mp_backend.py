"""``multiprocessing``: the older process backend, on :mod:`multiprocessing` processes.

Workers are started with the platform's default start method (``fork`` on Linux before
Python 3.14, so they start fast and inherit the caller's state), or the one ``context``
names, for each call, or once for a ``with Parallel()`` block, as joblib's backend of the
same name does. The pool itself is loky's process executor, non-reusable, on that
context: results travel with cloudpickle (so classes defined in ``__main__`` come back),
a crashed worker is detected at once with its exit code, and a stuck worker can be killed.
Results, errors, crash reports, memory-mapping and thread limits are the same as ``loky``.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Executor
from typing import Any

from parjob.mainguard import check_main_guard
from parjob_loky.base import ProcessBackend


class MultiprocessingBackend(ProcessBackend):
    """A pool of ``multiprocessing`` worker processes per call (or ``with`` block)."""

    name = "multiprocessing"
    default_priority = 50
    keeps_workers = False

    def __init__(self, context: Any = None) -> None:
        super().__init__()
        if context is None or isinstance(context, str):
            context = multiprocessing.get_context(context)
        self.context = context
        self._size = 0

    @property  # type: ignore[override]
    def workers_start_processes(self) -> bool:
        """Forked workers cannot start process pools (loky's state is a copy there)."""
        return self.context.get_start_method() != "fork"

    def _recycling_context(self) -> Any:
        self._check_main_guard()
        return self.context

    def _check_main_guard(self) -> None:
        method = self.context.get_start_method()
        if method != "fork":  # its workers import the main script again
            check_main_guard(f"the multiprocessing backend's workers (start method {method!r})")

    def _open_executor(self, n_jobs: int) -> Executor:
        if self._executor is not None and self._size == n_jobs:
            return self._executor
        if self._executor is not None:
            self._close_executor(self._executor, kill=False)
        from parjob_loky.forking import ProcessPool

        self._check_main_guard()
        self._size = n_jobs
        return ProcessPool(n_jobs, context=self.context)
