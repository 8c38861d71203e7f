"""Which dask client a call runs on: the user's, the worker's, or an embedded loopback cluster.

Order: an explicit ``client=`` (a ``Client`` or a scheduler address); inside a dask task, the
worker's own client (so nested calls run on the same cluster); the current default
``Client``; the ``scheduler-address`` dask setting; else a ``LocalCluster`` that parjob
starts itself, on loopback with no dashboard, once per process, closed at exit.
A cluster or client the user configured is never closed by parjob.

A process forked from one that had a client (a pre-fork server, ``multiprocessing`` with
fork) inherits client objects whose event-loop thread stayed in the parent: parjob starts
its own cluster and connections afresh in the child, and refuses, with a clear error, a
user's client made before the fork (:func:`check_client`).
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import logging
import os
import signal
import sys
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

# dask and distributed are imported inside the functions that use them: importing them
# takes about a second, and this module is imported whenever the backend class is.

from parjob.cpu import cpu_count
from parjob.mainguard import check_main_guard
from parjob_dask import shutdown

_lock = threading.Lock()
_embedded: tuple[LocalCluster, Client] | None = None
#: clients parjob opened to a scheduler address (closed at exit; the cluster is not ours)
_connections: dict[str, Client] = {}
_atexit_registered = False
_T = TypeVar("_T")
#: clients this process inherited through a fork: their event loop runs in the parent only
_inherited: weakref.WeakSet[Client] = weakref.WeakSet()
#: parjob's own clients and cluster from before a fork, never closed nor freed in the child
#: (closing them would wait for a loop thread the child does not have)
_abandoned: list[Any] = []


def _after_fork_in_child() -> None:
    global _embedded, _lock, _atexit_registered
    _lock = threading.Lock()  # another thread may have held it at the fork
    _atexit_registered = False  # multiprocessing clears its finalizers in the child
    if _embedded is not None:
        _abandoned.extend(_embedded)
        _embedded = None
    _abandoned.extend(_connections.values())
    _connections.clear()
    client_class = getattr(sys.modules.get("distributed"), "Client", None)
    if client_class is not None:
        _inherited.update(client_class._instances)
    _repair_offload_pool(forked=True)


os.register_at_fork(after_in_child=_after_fork_in_child)


def _repair_offload_pool(forked: bool = False) -> None:
    """Give dask a new offload thread pool if this process was forked from one that had
    started it. The inherited pool believes its thread still exists and is idle, so work
    given to it (a scheduler deserialising a graph) would wait forever. Checked at the fork
    and before parjob starts a cluster or a connection (when this module was imported
    after the fork)."""
    utils = sys.modules.get("distributed.utils")
    pool = getattr(utils, "_offload_executor", None)
    threads = getattr(pool, "_threads", ())
    if threads and (forked or not all(thread.is_alive() for thread in threads)):
        from concurrent.futures import ThreadPoolExecutor

        utils._offload_executor = ThreadPoolExecutor(1, thread_name_prefix="Dask-Offload")  # type: ignore[union-attr]


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
            return check_client(client, "the dask client given as client=")
        if isinstance(client, str):
            return connect(client)
        raise TypeError(
            f"client must be a distributed.Client or a scheduler address, got {client!r}"
        )
    if in_worker():
        return get_client()
    try:
        current = Client.current(allow_global=True)
    except ValueError:
        pass
    else:
        return check_client(current, "the default dask client")
    address = dask.config.get("scheduler-address", None)
    if address:
        return connect(address)
    return embedded_client()


def will_start_embedded(client: Any = None) -> bool:
    """Whether :func:`find_client` with ``client`` would start parjob's own cluster now."""
    if client is not None or in_worker():
        return False
    import dask
    from distributed import Client

    try:
        Client.current(allow_global=True)
    except ValueError:
        pass
    else:
        return False
    if dask.config.get("scheduler-address", None):
        return False
    return _embedded is None or not usable(_embedded[1])


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


def describe(client: Client) -> str:
    """``client`` for a message, without asking its scheduler (its repr may block)."""
    address = getattr(getattr(client, "scheduler", None), "address", None)
    return f"<Client {address or 'not connected'}>"


def check_client(client: Client, which: str) -> Client:
    """``client`` if a blocking call can use it, else an error saying what is wrong."""
    if forked_away(client):
        raise RuntimeError(
            f"{which} ({describe(client)}) was created before this process was forked: its event "
            "loop runs in the parent process only. Create a new Client in the child, or "
            "create it after the fork"
        )
    if client.asynchronous:
        raise TypeError(
            f"{which} ({describe(client)}) is asynchronous (Client(asynchronous=True)); parjob's "
            "Parallel blocks until its results are in, so it needs a synchronous Client"
        )
    if client.status in ("closing", "closed"):
        from parjob.errors import BackendError

        raise BackendError(
            f"{which} ({describe(client)}) is {client.status}: pass a running Client, or no "
            "client= to use the default one"
        )
    return client


def usable(client: Client | None) -> bool:
    """Whether parjob can keep using ``client``: open, and made in this process."""
    return (
        client is not None
        and client.status not in ("closing", "closed")
        and not forked_away(client)
    )


def forked_away(client: Client) -> bool:
    """Whether ``client`` was made before this process was forked (its loop is elsewhere).

    Seen by the fork hook when this module was imported before the fork, else by the
    thread that runs the client's event loop, which a forked child does not have.
    """
    if client in _inherited:
        return True
    try:
        loop = client.loop.asyncio_loop
    except Exception:  # a client that never started
        return False
    ident = getattr(loop, "_thread_id", None)  # set while the loop runs
    return ident is not None and ident not in {t.ident for t in threading.enumerate()}


def connect(address: str) -> Client:
    """A client of ours to the user's scheduler at ``address``, reused across calls."""
    from distributed import Client

    with _lock:
        client = _connections.get(address)
        if not usable(client):
            _repair_offload_pool()
            client = isolated(Client, address, set_as_default=False)
            _connections[address] = client
            _register_atexit()
        return client  # type: ignore[return-value]


def embedded_client() -> Client:
    """The client of parjob's own LocalCluster, started on first use and reused."""
    global _embedded
    from distributed import Client

    with _lock:
        if _embedded is not None and usable(_embedded[1]):
            return _embedded[1]
        _close_embedded()
        _repair_offload_pool()
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
            from parjob_dask.quiet import QuietTaskErrors

            isolated(client.register_plugin, QuietTaskErrors())  # errors reach the caller once
        except BaseException:
            shutdown.close_now(cluster)
            raise
        _embedded = (cluster, client)
        _register_atexit()
        return client


def _start_local_cluster() -> LocalCluster:
    import dask

    method = dask.config.get("distributed.worker.multiprocessing-method", "spawn")
    if method != "fork":  # its nannies' workers import the main script again
        check_main_guard(f"parjob's local dask cluster (workers started with {method!r})")
    with shutdown.closed_if_interrupted():
        return _local_cluster()


def _local_cluster() -> LocalCluster:
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


def is_embedded(client: Client | None) -> bool:
    """Whether ``client`` is the one of parjob's own LocalCluster."""
    embedded = _embedded
    return client is not None and embedded is not None and embedded[1] is client


def restart_if_only(client: Client, keys: set[str]) -> bool:
    """Stop running tasks on parjob's own cluster (Python threads cannot be interrupted) by
    killing its worker processes, which their nannies start again at once; unless the
    client holds anything beyond ``keys`` (another call's tasks, scattered data): then
    nothing is touched. True when it killed them."""
    embedded = _embedded
    if not is_embedded(client) or embedded is None or set(client.futures) - keys:
        return False
    killed = False
    for nanny in list(getattr(embedded[0], "workers", {}).values()):
        pid = getattr(getattr(nanny, "process", None), "pid", None)
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed = True
    return killed


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(close)
        # a multiprocessing child ends with os._exit, past atexit: its finalizers still run
        from multiprocessing import util

        util.Finalize(None, close, exitpriority=0)
        _atexit_registered = True


def _close_embedded() -> None:
    global _embedded
    if _embedded is None:
        return
    cluster, client = _embedded
    _embedded = None
    shutdown.close_now(cluster, client)


def close() -> None:
    """Close parjob's own cluster and the clients it opened (never the user's cluster)."""
    with _lock:
        _close_embedded()
        while _connections:
            _, client = _connections.popitem()
            with contextlib.suppress(Exception):
                client.close()
