"""Which dask client a call runs on: the user's, the worker's, or an embedded loopback cluster.

Order: an explicit ``client=`` (a ``Client`` or a scheduler address); inside a dask task, the
worker's own client (so nested calls run on the same cluster); the current default
``Client``; the ``scheduler-address`` dask setting; else a ``LocalCluster`` that parjob
starts itself, on loopback with no dashboard, once per process, closed at exit.
A cluster or client the user configured is never closed by parjob.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

# dask and distributed are imported inside the functions that use them: importing them
# takes about a second, and this module is imported whenever the backend class is.

from parjob.cpu import cpu_count

_lock = threading.Lock()
_embedded: tuple[LocalCluster, Client] | None = None
#: clients parjob opened to a scheduler address (closed at exit; the cluster is not ours)
_connections: dict[str, Client] = {}
_atexit_registered = False
_T = TypeVar("_T")


def in_worker() -> bool:
    """True when called from a task running on a dask worker."""
    if "distributed" not in sys.modules:  # no dask worker runs in this process
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def isolated(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Call ``function`` outside the caller's contextvars (outside a dask task only).

    Work that dask's event loop starts on our behalf (a cluster's background tasks, a new
    connection's reader) copies the context it was started from and keeps it for its
    lifetime. The caller's context holds the active ``parallel_config``, whose ``scatter``
    list must be freed when the block ends; so such calls run in an empty context. Inside
    a task the worker's own context variable is needed, and no block is kept alive there.
    """
    if in_worker():
        return function(*args, **kwargs)
    return contextvars.Context().run(function, *args, **kwargs)


def find_client(client: Any = None) -> Client:
    """The client a call should use (see the module docstring for the order)."""
    import dask
    from distributed import Client, get_client

    if client is not None:
        if isinstance(client, Client):
            return client
        if isinstance(client, str):
            return connect(client)
        raise TypeError(
            f"client must be a distributed.Client or a scheduler address, got {client!r}"
        )
    if in_worker():
        return get_client()
    try:
        return Client.current(allow_global=True)
    except ValueError:
        pass
    address = dask.config.get("scheduler-address", None)
    if address:
        return connect(address)
    return embedded_client()


def direct(client: Client) -> bool | None:
    """Whether to send scattered data straight to the workers rather than via the scheduler.

    The client's own ``direct_to_workers`` setting wins; a client of a LocalCluster object
    (workers on this machine, reachable) goes direct, which halves the bytes copied;
    otherwise dask's default (via the scheduler, which works through tunnels and gateways).
    """
    from distributed import LocalCluster

    if client.direct_to_workers is not None:
        return bool(client.direct_to_workers)
    if isinstance(getattr(client, "cluster", None), LocalCluster):
        return True
    return None


def _usable(client: Client | None) -> bool:
    return client is not None and client.status not in ("closing", "closed")


def connect(address: str) -> Client:
    """A client of ours to the user's scheduler at ``address``, reused across calls."""
    from distributed import Client

    with _lock:
        client = _connections.get(address)
        if not _usable(client):
            client = isolated(Client, address, set_as_default=False)
            _connections[address] = client
            _register_atexit()
        return client  # type: ignore[return-value]


def embedded_client() -> Client:
    """The client of parjob's own LocalCluster, started on first use and reused."""
    global _embedded
    from distributed import Client

    with _lock:
        if _embedded is not None and _usable(_embedded[1]):
            return _embedded[1]
        _close_embedded()
        import dask

        # The workers' statistical profiler takes the GIL from the running task every 10 ms
        # to sample its stack (up to a few percent of a pure-Python task's time, within
        # noise here); its only reader is the dashboard, which is off. Nannies hand this
        # setting to the workers they start, and restart.
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            cluster = _start_local_cluster()
        try:
            # our workers are reachable: fetch results and send data without a detour
            client = isolated(Client, cluster, set_as_default=False, direct_to_workers=True)
        except BaseException:
            cluster.close()
            raise
        _embedded = (cluster, client)
        _register_atexit()
        return client


def _start_local_cluster() -> LocalCluster:
    from distributed import LocalCluster

    return isolated(
        LocalCluster,
        n_workers=cpu_count(),
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",  # scheduler, workers and nannies listen on loopback only
        dashboard_address=None,
        worker_dashboard_address=None,
        # the scheduler's HTTP endpoint (health, metrics) always starts: on a free port
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,  # task errors reach the caller; no worker chatter
    )


def embedded_cluster() -> LocalCluster | None:
    """parjob's own LocalCluster, if it was started in this process."""
    return _embedded[0] if _embedded is not None else None


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(close)
        _atexit_registered = True


def _close_embedded() -> None:
    global _embedded
    if _embedded is None:
        return
    cluster, client = _embedded
    _embedded = None
    for closable in (client, cluster):
        with contextlib.suppress(Exception):  # already closing at interpreter exit
            closable.close()


def close() -> None:
    """Close parjob's own cluster and the clients it opened (never the user's cluster)."""
    with _lock:
        _close_embedded()
        while _connections:
            _, client = _connections.popitem()
            with contextlib.suppress(Exception):
                client.close()


_LOOPBACK = ("localhost", "::1")


def same_host(client: Client) -> bool:
    """Whether every worker runs on this machine, so files in its memory reach them.

    True for a LocalCluster object, or when every worker listens on a loopback address.
    """
    from distributed import LocalCluster

    if isinstance(getattr(client, "cluster", None), LocalCluster):
        return True
    try:
        addresses = list(client.scheduler_info()["workers"])
    except Exception:
        return False
    hosts = {urlsplit(address).hostname or "" for address in addresses}
    return bool(hosts) and all(h.startswith("127.") or h in _LOOPBACK for h in hosts)
