"""No "Compute Failed" log from parjob's own dask workers for a task error.

A dask worker logs every task that raises, at ERROR, with the exception and a traceback.
For a parjob batch that record is noise: the task's own exception reaches the caller, who
re-raises it with the worker's traceback. parjob's embedded cluster installs this filter in
its workers (a worker plugin, so restarted workers get it too); only records about parjob's
tasks are dropped, and a cluster the user runs keeps its logging as it is.
"""

from __future__ import annotations

import logging
from typing import Any

from distributed import WorkerPlugin

#: every dask key parjob submits starts with this (see ``DaskBackend``)
KEY_PREFIX = "parjob-"
_WORKER_LOGGER = "distributed.worker"


class _DropParjobTaskErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        args = record.args if isinstance(record.args, tuple) else ()
        return not (
            message.startswith("Compute Failed") and args and str(args[0]).startswith(KEY_PREFIX)
        )


_FILTER = _DropParjobTaskErrors()


class QuietTaskErrors(WorkerPlugin):
    """A worker plugin: no "Compute Failed" record for a parjob task's error."""

    name = "parjob-quiet-task-errors"

    def setup(self, worker: Any) -> None:
        logging.getLogger(_WORKER_LOGGER).addFilter(_FILTER)

    def teardown(self, worker: Any) -> None:
        logging.getLogger(_WORKER_LOGGER).removeFilter(_FILTER)
