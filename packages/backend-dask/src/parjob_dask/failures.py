"""What the core hears when a dask task does not bring a batch's result back.

The batch's own failure (the core's ``TaskFailure``), a worker lost (``KilledWorker``,
marked with ``parjob.crashes.blame``), the task cancelled, or the client closed under the
call (a ``BackendError``: no worker's doing).
"""

from __future__ import annotations

from concurrent.futures import CancelledError
from typing import TYPE_CHECKING

from parjob import crashes
from parjob.errors import BackendError
from parjob_dask import cluster

if TYPE_CHECKING:
    from distributed import Client, Future


def failure(client: Client, task: Future, exc: BaseException) -> tuple[BaseException, bool]:
    """The error to set on the batch's future when awaiting ``task`` raised ``exc``, and
    whether dask gave up on it with ``KilledWorker``."""
    if not isinstance(exc, Exception):  # e.g. asyncio's CancelledError when the loop stops
        return CancelledError(f"dask task {task.key}: {type(exc).__name__}: {exc}"), False
    if client.status in ("closing", "closed"):
        return client_closed(client), False
    if task.status == "cancelled":
        return CancelledError(f"dask task {task.key} was cancelled"), False
    # its traceback's frames hold the dask future: drop them, so an exception the user
    # keeps does not keep the task on the scheduler (the worker-side traceback travels as
    # text in the TaskFailure)
    error = exc.with_traceback(None)
    error.__context__ = None
    killed = type(exc).__name__ == "KilledWorker"  # every worker it was on died
    if killed:
        crashes.blame(error, f"was lost: {_first_line(str(exc))}")
    return error, killed


def client_closed(client: Client | None) -> BackendError:
    """The error of a batch lost because the client was closed during the call."""
    name = f" {cluster.describe(client)}" if client is not None else ""
    return BackendError(
        f"the dask client{name} was closed while the call was running; "
        "its batches were lost with it (this is not a worker crash)"
    )


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else ""
