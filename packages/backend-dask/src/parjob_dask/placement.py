"""How batches go to dask: in groups (one ``client.map`` each), and a retry to a worker
other than those its task failed on.

parjob names workers by process (``parjob.workerid``: ``"host:pid:thread"``); dask by
address. Each worker tells its process id when asked (``client.run``, only when a retry
has somewhere to avoid, so never on a call without failures). The retry then goes to the
other workers as a loose restriction (``allow_other_workers=True``): dask prefers them,
and runs it anywhere when none of them is left, so a retry never waits for a worker.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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


#: batches sent in one client.map stay under this many pickled bytes together: dask warns
#: about (and slows down on) large graphs
_GROUP_BYTES = 4 * 1024**2


def groups(items: list[tuple[Any, Any]]) -> Iterator[list[tuple[Any, Any]]]:
    """``items`` in consecutive groups of at most ``_GROUP_BYTES`` (a larger one alone)."""
    group: list[tuple[Any, Any]] = []
    size = 0
    for item in items:
        if group and size + len(item[0].data) > _GROUP_BYTES:
            yield group
            group, size = [], 0
        group.append(item)
        size += len(item[0].data)
    if group:
        yield group
