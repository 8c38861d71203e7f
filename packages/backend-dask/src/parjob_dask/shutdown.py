"""Closing parjob's own LocalCluster at once: at exit, or when it is replaced.

distributed closes a nanny by asking its worker to stop; a worker still booting it first
waits for, until it has imported dask and joined the scheduler: seconds, more on a busy
machine. After Ctrl-C parjob kills the cluster's workers to stop the tasks they run, and
their nannies start new ones at once, so a program that exits right after Ctrl-C waited
that long for workers it was about to stop (and distributed's own exit handler, meeting a
worker between two states, printed an ``AssertionError``). The cluster is ours and is
going away: its nannies are told not to restart their workers, and the worker processes,
booting or not, are killed before the cluster is closed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

#: how long to wait for a worker process its nanny is starting to exist, to kill it
_SPAWN_SECONDS = 2.0


@contextlib.contextmanager
def closed_if_interrupted() -> Iterator[None]:
    """Close, as :func:`close_now` does, a cluster whose start (in the block) was cut
    short by Ctrl-C or an error: its event loop goes on starting it in the background."""
    from distributed.deploy.spec import SpecCluster

    before = set(SpecCluster._instances)
    try:
        yield
    except BaseException:
        for started in set(SpecCluster._instances) - before:
            with contextlib.suppress(Exception):
                _unreported_failed_starts(started.loop.asyncio_loop)
            close_now(started)
        raise


def _unreported_failed_starts(loop: Any) -> None:
    """Keep ``loop`` from printing, as "Task exception was never retrieved", the failure
    of the nannies whose booting workers :func:`close_now` killed: that start was given up
    on. Anything else goes to the handler the loop had."""
    previous = loop.get_exception_handler()

    def handle(loop: Any, context: dict[str, Any]) -> None:
        error = context.get("exception")
        while error is not None:
            if isinstance(error, RuntimeError) and "Nanny failed to start" in str(error):
                return
            error = error.__cause__
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


def close_now(cluster: Any, client: Any = None) -> None:
    """Close ``client`` and ``cluster`` (parjob's own), killing the workers first.

    Errors are swallowed: this runs at interpreter exit too, where dask may be half gone.
    The cluster is left out of distributed's exit handler, which would try again (and wait
    up to 10 s for a cluster stuck between two states).
    """
    # the scheduler logs each killed worker's closed connection with a traceback, at INFO
    batched = logging.getLogger("distributed.batched")
    level = batched.level
    batched.setLevel(logging.WARNING)
    try:
        with contextlib.suppress(Exception):
            stop_workers(cluster)
        for closable in (client, cluster):
            if closable is not None:
                with contextlib.suppress(Exception):
                    closable.close()
    finally:
        batched.setLevel(level)
    cluster.shutdown_on_close = False


def stop_workers(cluster: Any) -> None:
    """Kill the worker processes of ``cluster``'s nannies, after telling the nannies not
    to start new ones (a worker that dies while its nanny closes gracefully is not
    restarted). A worker its nanny is spawning this instant is waited for, briefly."""
    from distributed.core import Status

    done = (Status.closing, Status.closed, Status.closing_gracefully, Status.failed)
    nannies = list(getattr(cluster, "workers", {}).values())
    nannies += [n for n in getattr(cluster, "_created", ()) if n not in nannies]
    for nanny in nannies:
        if getattr(nanny, "status", None) not in done:
            nanny.status = Status.closing_gracefully
    killed: set[int] = set()
    deadline = time.monotonic() + _SPAWN_SECONDS
    while True:
        spawning = False
        for nanny in nannies:
            process = getattr(nanny, "process", None)  # a WorkerProcess, or None
            if process is None:
                continue
            pid = process.pid
            if pid and pid not in killed:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            elif not pid and process.status == Status.starting:
                spawning = True
        if not spawning or time.monotonic() >= deadline:
            return
        time.sleep(0.02)
