"""``dask``: run parjob batches as tasks on a dask.distributed cluster.

The core batches tasks, orders results, applies timeouts and re-raises task errors; this
backend finds the client (:mod:`parjob_dask.cluster`), swaps scattered data for futures
(:mod:`parjob_dask.scatter`), submits each batch as one dask task (the batches of one
dispatch round in one ``client.map``) and relays its outcome to a
:class:`concurrent.futures.Future`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import CancelledError, InvalidStateError
from concurrent.futures import Future as ConcurrentFuture
from typing import TYPE_CHECKING, Any, NamedTuple

from parjob.backend import Backend, RunSettings
from parjob.tasks import Batch, BatchResult
from parjob.validation import parse_nbytes
from parjob_dask import cluster, scatter

if TYPE_CHECKING:  # distributed is imported when a backend is created, not with this module
    from distributed import Client, Future

    from parjob.memmap import ArrayStore

DEFAULT_SCATTER_THRESHOLD = 1024**2


def run_batch(data: bytes, values: tuple[Any, ...]) -> BatchResult:
    """The dask task: unpickle one batch (scattered objects already on the worker), run it."""
    return scatter.load_batch(data, values)()


class DaskWork(NamedTuple):
    """A batch ready for dask: its pickle and the futures it refers to."""

    data: bytes
    futures: tuple[Future, ...]
    name: str

    def __call__(self) -> BatchResult:  # the contract's Work: runnable in the caller too
        return run_batch(self.data, tuple(future.result() for future in self.futures))


class DaskBackend(Backend):
    """Batches as dask tasks on the user's cluster, the worker's, or an embedded one.

    Parameters (``parallel_config("dask", ...)`` or ``Parallel(backend="dask", ...)``):

    ``client``: a ``distributed.Client`` or a scheduler address; default: the worker's
    client inside a task, else the current default client, else an embedded LocalCluster.
    ``scatter``: objects sent to the workers once per context; tasks taking them get the
    worker-side copy. ``scatter_threshold``: numpy/pandas arguments this large (bytes or
    e.g. ``"1M"``) are scattered automatically once per call; None turns that off.
    ``resources``, ``retries``, ``priority``, ``pure``: passed to dask with every batch.
    ``wait_for_workers_timeout``: seconds to wait for a first worker (default 10).
    """

    name = "dask"
    uses_threads = False
    serializes = True
    local = False
    can_interrupt = False  # a cancelled task that already runs finishes in its worker
    # a dask round trip costs ~10 ms on a busy laptop: batches of ~0.1 s hide it behind
    # the next queued batch, yet stay short enough to balance the tail across workers
    target_batch_seconds = 0.1
    default_priority = None  # never the default backend: a cluster is asked for by name
    default_n_jobs = -1  # Parallel(backend="dask") uses every worker thread

    def __init__(
        self,
        client: Client | str | None = None,
        scatter: list[Any] | tuple[Any, ...] | None = None,
        scatter_threshold: int | str | None = DEFAULT_SCATTER_THRESHOLD,
        resources: dict[str, float] | None = None,
        retries: int = 0,
        priority: int = 0,
        pure: bool = False,
        wait_for_workers_timeout: float | None = 10.0,
    ) -> None:
        if scatter is not None and not isinstance(scatter, (list, tuple)):
            raise TypeError(f"scatter must be a list or tuple of objects, got {scatter!r}")
        from distributed import Client

        if client is not None and not isinstance(client, (Client, str)):
            raise TypeError(
                f"client must be a distributed.Client or a scheduler address, got {client!r}"
            )
        self._client_spec = client
        self._scatter = scatter
        self.scatter_threshold = parse_nbytes(scatter_threshold)
        self._options: dict[str, Any] = {"retries": retries, "priority": priority}
        if resources:
            self._options["resources"] = dict(resources)
        self.pure = bool(pure)
        self.wait_for_workers_timeout = wait_for_workers_timeout
        self._client: Client | None = None
        self._in_worker = cluster.in_worker()
        self._seceded: int | None = None  # ident of the task thread that left the pool
        self._cap: int | None = None  # most batches on the cluster at once (explicit n_jobs)
        self._lock = threading.Lock()
        self._active: set[Future] = set()
        self._pending: deque[tuple[DaskWork, ConcurrentFuture[BatchResult]]] = deque()
        self._explicit: dict[int, Future] = {}
        self._store: ArrayStore | None = None
        self._auto: dict[int, tuple[Any, Future]] = {}

    # -- the cluster -----------------------------------------------------------------
    @property
    def client(self) -> Client:
        """The dask client this backend submits to (found on first use)."""
        if self._client is None or self._client.status in ("closing", "closed"):
            self._client = cluster.find_client(self._client_spec)
        return self._client

    def capacity(self) -> int:
        """Threads of all workers now in the cluster (waits for a first worker)."""
        client = self.client
        total = sum(client.nthreads().values())
        if total == 0 and self.wait_for_workers_timeout != 0:
            try:
                client.wait_for_workers(1, timeout=self.wait_for_workers_timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"no dask worker joined the cluster at {client.scheduler.address} within "
                    f"wait_for_workers_timeout={self.wait_for_workers_timeout}s"
                ) from None
            total = sum(client.nthreads().values())
        return max(total, 1)

    def nested(self, n_jobs: int) -> tuple[str, int]:
        return ("dask", -1)

    # -- lifecycle -------------------------------------------------------------------
    def start(self, n_jobs: int, settings: RunSettings) -> None:
        # called before every call: arrays scattered for the previous call may have changed
        self._auto.clear()
        self._close_store()
        mappable = self.scatter_threshold is not None and settings.mmap_mode is not None
        if mappable and cluster.same_host(self.client):
            # workers share this machine's memory: large arrays go through memory-mapped
            # files, written once and read in place, instead of over the network
            from parjob.memmap import ArrayStore

            self._store = ArrayStore(
                dataclasses.replace(settings, max_nbytes=self.scatter_threshold)
            )
        capacity = self.capacity()
        self._cap = n_jobs if n_jobs < capacity else None
        if self._scatter is not None:
            self._explicit = scatter.scattered(self.client, self._scatter)
        if self._in_worker and self._seceded is None:
            # leave the worker's thread pool while this task waits for its nested tasks,
            # so they can run on this worker (no deadlock on a small cluster)
            from distributed import secede

            secede()
            self._seceded = threading.get_ident()

    def encode(self, batch: Batch) -> DaskWork:
        table = self._explicit
        # with a store, numpy arrays are memory-mapped; only pandas objects are scattered
        kinds = ("pandas",) if self._store is not None else ("numpy", "pandas")
        if self.scatter_threshold is not None:
            large = [
                obj
                for obj in scatter.large_arguments(batch, self.scatter_threshold, kinds)
                if id(obj) not in table
            ]
            if large:
                self._scatter_auto(large)
            if self._auto:
                table = {**table, **{key: future for key, (_, future) in self._auto.items()}}
        data, futures = scatter.dumps(batch, table, self._store)
        func = batch.first_function
        name = getattr(func, "__name__", None) or type(func).__name__
        return DaskWork(data, futures, name)

    def _scatter_auto(self, objects: list[Any]) -> None:
        fresh = {id(obj): obj for obj in objects if id(obj) not in self._auto}
        if not fresh:
            return
        client = self.client
        objects = list(fresh.values())
        futures = cluster.isolated(
            client.scatter, objects, hash=False, direct=cluster.direct(client)
        )
        for (key, obj), future in zip(fresh.items(), futures, strict=True):
            self._auto[key] = (obj, future)  # holding obj keeps its id valid

    def submit(self, work: DaskWork) -> ConcurrentFuture[BatchResult]:  # type: ignore[override]
        return self.submit_many([work])[0]

    def submit_many(  # type: ignore[override]
        self, works: list[DaskWork]
    ) -> list[ConcurrentFuture[BatchResult]]:
        futures: list[ConcurrentFuture[BatchResult]] = [ConcurrentFuture() for _ in works]
        with self._lock:
            room = len(works)
            if self._cap is not None:
                room = max(min(self._cap - len(self._active), room), 0)
            self._pending.extend(zip(works[room:], futures[room:], strict=True))
            for group in _groups(list(zip(works[:room], futures[:room], strict=True))):
                self._launch(group)
        return futures

    def _launch(self, items: list[tuple[DaskWork, ConcurrentFuture[BatchResult]]]) -> None:
        # one client.map for several batches: one graph update on the scheduler, not one
        # per batch
        options: dict[str, Any] = dict(self._options)
        options["pure"] = self.pure
        if not self.pure:
            options["key"] = [f"parjob-{work.name}-{uuid.uuid4().hex}" for work, _ in items]
        client = self.client
        datas = [work.data for work, _ in items]
        values = [work.futures for work, _ in items]
        tasks = client.map(run_batch, datas, values, **options)
        for task, (_, future) in zip(tasks, items, strict=True):
            self._active.add(task)
            # fetch the outcome in dask's event loop as soon as the task ends: no hop
            # through dask's one callback thread and back into the loop for every batch
            client.loop.add_callback(self._relay, client, task, future)

    async def _relay(
        self, client: Client, task: Future, future: ConcurrentFuture[BatchResult]
    ) -> None:
        outcome: Any = None
        error: BaseException | None = None
        try:
            outcome = await client.gather(task, asynchronous=True)
        except Exception as exc:  # the batch's TaskFailure, KilledWorker, cancelled, ...
            if task.status == "cancelled":
                error = CancelledError(f"dask task {task.key} was cancelled")
            else:
                # its traceback's frames hold the dask future: drop them, so an exception
                # the user keeps does not keep the task on the scheduler (the worker-side
                # traceback travels as text in the TaskFailure)
                error = exc.with_traceback(None)
                error.__context__ = None
        except BaseException as exc:  # e.g. asyncio's CancelledError when the loop stops
            error = CancelledError(f"dask task {task.key}: {type(exc).__name__}: {exc}")
        with self._lock:
            self._active.discard(task)
            waiting = self._pending.popleft() if self._pending else None
            if waiting is not None:
                try:
                    self._launch([waiting])
                except Exception as exc:  # e.g. the client closed: fail it, never hang
                    _settle(waiting[1], None, exc)
        _settle(future, outcome, error)

    def stop(self) -> None:
        self._release()
        if self._seceded is not None:
            if self._seceded == threading.get_ident():
                from distributed import rejoin

                rejoin()
            self._seceded = None
        self._close_store()
        scatter.sweep()

    def abort(self) -> None:
        self._release()
        self._close_store()

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _release(self) -> None:
        with self._lock:
            tasks = list(self._active)
            self._active.clear()
            pending = list(self._pending)
            self._pending.clear()
            self._auto.clear()
        for _, future in pending:
            future.cancel()
        if tasks and self._client is not None:
            with contextlib.suppress(Exception):  # a closing client drops its futures anyway
                self._client.cancel(tasks)

    def __repr__(self) -> str:
        where = self._client.scheduler.address if self._client is not None else "not connected"
        return f"<DaskBackend {where}>"


#: batches sent in one client.map stay under this many pickled bytes together: dask warns
#: about (and slows down on) large graphs
_GROUP_BYTES = 4 * 1024**2


def _groups(items: list[tuple[DaskWork, Any]]) -> Iterator[list[tuple[DaskWork, Any]]]:
    """``items`` in consecutive groups of at most ``_GROUP_BYTES`` (a larger one alone)."""
    group: list[tuple[DaskWork, Any]] = []
    size = 0
    for item in items:
        if group and size + len(item[0].data) > _GROUP_BYTES:
            yield group
            group, size = [], 0
        group.append(item)
        size += len(item[0].data)
    if group:
        yield group


def _settle(
    future: ConcurrentFuture[BatchResult], outcome: Any, error: BaseException | None
) -> None:
    with contextlib.suppress(InvalidStateError):  # the core cancelled it (abort)
        if error is None:
            future.set_result(outcome)
        else:
            future.set_exception(error)
