"""Where a retry runs: on a dask worker other than those its task failed on.

parjob names workers by process (``parjob.workerid``: ``"host:pid:thread"``); dask by
address. Each worker tells its process id when asked (``client.run``, only when a retry
has somewhere to avoid, so never on a call without failures). The retry then goes to the
other workers as a loose restriction (``allow_other_workers=True``): dask prefers them,
and runs it anywhere when none of them is left, so a retry never waits for a worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from parjob.workerid import process_id, process_of
from parjob_dask.cluster import isolated

if TYPE_CHECKING:
    from distributed import Client


def processes(client: Client) -> dict[str, str]:
    """Each worker's address and its ``"host:pid"`` (a worker that does not answer, being
    lost or restarted, is left out)."""
    return {
        address: answer
        for address, answer in isolated(client.run, process_id, on_error="return").items()
        if isinstance(answer, str)
    }


def elsewhere(client: Client, avoid: frozenset[str]) -> tuple[str, ...]:
    """The addresses of the workers whose process is not in ``avoid`` (worker ids), when
    that leaves some out and some in; else ``()``: no restriction (none of the workers
    failed the task, or all of them did)."""
    failed = {process_of(worker) for worker in avoid}
    known = processes(client)
    others = tuple(sorted(address for address, proc in known.items() if proc not in failed))
    return others if 0 < len(others) < len(known) else ()


def options(placed: tuple[str, ...], base: Mapping[str, Any]) -> dict[str, Any]:
    """dask's options for a batch preferring the workers ``placed`` (if any)."""
    if not placed:
        return dict(base)
    return {**base, "workers": list(placed), "allow_other_workers": True}


def worker_count(client: Client) -> int:
    """Worker processes now in the cluster."""
    return len(isolated(client.nthreads))
