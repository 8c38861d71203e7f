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
import functools
import threading
import uuid
from collections import deque
from concurrent.futures import Future as ConcurrentFuture
from typing import TYPE_CHECKING, Any, NamedTuple

from parjob import references
from parjob.backend import Backend, RunSettings, drop_queued, settle
from parjob.cpu import cpu_count
from parjob.tasks import Batch, BatchResult
from parjob.validation import parse_nbytes
from parjob_dask import cluster, failures, healing, placement, scatter, sharing, workers
from parjob_dask.cluster import isolated
from parjob_dask.scatter import EMPTY, block_of
from parjob_dask.suspects import Suspects

if TYPE_CHECKING:  # distributed is imported when a backend is created, not with this module
    from distributed import Client, Future

    from parjob.memmap import ArrayStore

DEFAULT_SCATTER_THRESHOLD = 1024**2


def run_batch(data: bytes, values: tuple[Any, ...]) -> BatchResult:
    """The dask task: unpickle one batch (scattered objects already on the worker), run it."""
    return references.load_batch(data, values)()


class DaskWork(NamedTuple):
    """A batch ready for dask: its pickle, the futures it refers to, and (for a retry) the
    workers dask should prefer."""

    data: bytes
    futures: tuple[Future, ...]
    name: str
    placed: tuple[str, ...] = ()

    def __call__(self) -> BatchResult:  # the contract's Work: runnable in the caller too
        return run_batch(self.data, tuple(future.result() for future in self.futures))


class DaskBackend(Backend):
    """Batches as dask tasks on the user's cluster, the worker's, or an embedded one.

    Parameters (``parallel_config("dask", ...)`` or ``Parallel(backend="dask", ...)``):

    ``client``: a ``distributed.Client`` or a scheduler address (joblib's
    ``scheduler_host`` is the same); default: the worker's client inside a task, else the
    current default client, else an embedded LocalCluster.
    ``scatter``: a list or tuple of objects sent to the workers once per
    ``parallel_config`` block (or per ``Parallel``); tasks taking them get the worker-side
    copy. ``scatter_threshold``: numpy/pandas arguments this large (bytes or e.g. ``"1M"``)
    are scattered automatically once per call; None turns that off.
    ``resources``, ``workers``, ``allow_other_workers``, ``retries``, ``priority``,
    ``pure``: passed to dask with every batch (as joblib passes them to ``submit``).
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
        workers: str | list[str] | None = None,
        allow_other_workers: bool = False,
        retries: int = 0,
        priority: int = 0,
        pure: bool = False,
        wait_for_workers_timeout: float | None = 10.0,
        scheduler_host: str | None = None,
    ) -> None:
        if scatter is not None and not isinstance(scatter, (list, tuple)):
            raise TypeError(
                "scatter must be a list or tuple of objects, got "
                f"{type(scatter).__name__}: {_short(scatter)}"
            )
        if scheduler_host is not None:
            if client is not None:
                raise TypeError("pass client= or scheduler_host= (the same thing), not both")
            client = scheduler_host
        from distributed import Client

        if client is not None and not isinstance(client, (Client, str)):
            raise TypeError(
                f"client must be a distributed.Client or a scheduler address, got {client!r}"
            )
        if workers is not None and not isinstance(workers, (str, list, tuple, set)):
            raise TypeError(
                f"workers must be a worker address or name, or a list of them, got {workers!r}"
            )
        self._client_spec = client
        self._scatter = scatter
        #: the ``parallel_config`` block whose parameters carry this scatter list (its
        #: data is scattered once for the block), else None (once for this instance)
        self._block = block_of(scatter)
        self.scatter_threshold = parse_nbytes(scatter_threshold)
        self._options: dict[str, Any] = {"retries": retries, "priority": priority}
        if resources:
            self._options["resources"] = dict(resources)
        if workers is not None:
            self._options["workers"] = workers if isinstance(workers, str) else list(workers)
            self._options["allow_other_workers"] = bool(allow_other_workers)
        self.pure = bool(pure)
        self.wait_for_workers_timeout = wait_for_workers_timeout
        self._client: Client | None = None
        self._explicit_client: Client | None = None
        self._in_worker = cluster.in_worker()
        self._seceded: int | None = None  # ident of the task thread that left the pool
        self._cap: int | None = None  # most batches on the cluster at once (explicit n_jobs)
        self._lock = threading.Lock()
        self._active: set[Future] = set()
        self._pending: deque[tuple[DaskWork, ConcurrentFuture[BatchResult]]] = deque()
        self._suspects = Suspects()
        self._explicit = EMPTY
        self._store: ArrayStore | None = None
        self._auto = EMPTY

    # -- the cluster -----------------------------------------------------------------
    @property
    def client(self) -> Client:
        """The dask client this backend submits to (found on first use)."""
        if not cluster.usable(self._client):
            self._client = cluster.find_client(self._client_spec)
        return self._client  # type: ignore[return-value]

    def _call_client(self) -> Client:
        """The client this call started with: never another one found mid-call (that could
        start an embedded cluster from dask's event loop)."""
        client = self._client
        if client is None or client.status in ("closing", "closed"):
            raise failures.client_closed(client)
        return client

    def capacity(self) -> int:
        """Threads of all workers now in the cluster (waits for a first worker, submitting
        a probe task so that an autoscaling cluster starts one)."""
        client = self.client
        own = cluster.embedded_cluster() if cluster.is_embedded(client) else None
        if own is not None:  # first bring parjob's own cluster back to its size
            healing.keep_size(own)
        total = workers.threads(client)
        if total == 0 and self.wait_for_workers_timeout != 0:
            workers.wait_for_a_worker(client, self.wait_for_workers_timeout)
            total = workers.threads(client)
        return max(total, 1)

    def running_at_once(self, n_jobs: int) -> int:
        """Batches that run at once with ``n_jobs``: no more than the workers' threads."""
        return max(min(n_jobs, workers.threads(self.client)), 1)

    def nested(self, n_jobs: int) -> tuple[str, int]:
        return ("dask", -1)

    def cpu_share(self, n_jobs: int) -> functools.partial[int]:
        """Computed in the worker: its host's CPUs over the task threads on that host."""
        return functools.partial(workers.cpu_share, workers.threads_by_host(self.client))

    def startup_note(self) -> str | None:
        if cluster.usable(self._client) or not cluster.will_start_embedded(self._client_spec):
            return None
        return (
            f"Starting parjob's local dask cluster ({cpu_count()} worker processes): "
            "a few seconds, once per process."
        )

    # -- lifecycle -------------------------------------------------------------------
    def start(self, n_jobs: int, settings: RunSettings) -> None:
        # called before every call: arrays scattered for the previous call may have changed
        self._auto = EMPTY
        self._close_store()
        client = self.client
        capacity = self.capacity()
        self._cap = n_jobs if n_jobs < capacity else None
        mappable = self.scatter_threshold is not None and settings.mmap_mode is not None
        if mappable and sharing.shares_files(client, settings.temp_folder):
            # the workers read this machine's files: large arrays go through memory-mapped
            # files, written once and read in place, instead of over the network
            from parjob.memmap import ArrayStore

            self._store = ArrayStore(
                dataclasses.replace(settings, max_nbytes=self.scatter_threshold)
            )
        if self._scatter is not None:
            if self._block is not None and scatter.is_open(self._block):
                self._explicit = scatter.scattered(client, self._scatter, self._block)
            elif self._explicit_client is not client:  # once per instance (and client)
                self._explicit = scatter.scatter_now(client, self._scatter)
            self._explicit_client = client
        workers.warn_if_unplaceable(client, self._options)
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
                if obj not in table and obj not in self._auto
            ]
            if large:
                unique = list({id(obj): obj for obj in large}.values())
                self._auto = self._auto | scatter.scatter_now(self._call_client(), unique)
            if len(self._auto):
                table = table | self._auto
        data, futures = scatter.dumps(batch, table, self._store)
        func = batch.first_function
        name = getattr(func, "__name__", None) or type(func).__name__
        return DaskWork(data, futures, name)

    def submit(self, work: DaskWork) -> ConcurrentFuture[BatchResult]:  # type: ignore[override]
        return self.submit_many([work])[0]

    @property
    def can_avoid_workers(self) -> bool:  # type: ignore[override]
        """True with two workers or more, unless ``workers=`` places every batch."""
        return "workers" not in self._options and placement.worker_count(self.client) > 1

    def submit_avoiding(  # type: ignore[override]
        self, work: DaskWork, workers: frozenset[str]
    ) -> ConcurrentFuture[BatchResult]:
        """A retry: to the workers whose process is not in ``workers``, preferably (dask
        runs it on any worker when none of them is left). Where ``workers=`` was given,
        the batch goes where that says."""
        if "workers" not in self._options:
            work = work._replace(placed=placement.elsewhere(self._call_client(), workers))
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
            for group in placement.groups(list(zip(works[:room], futures[:room], strict=True))):
                self._launch(group)
        return futures

    def _launch(self, items: list[tuple[DaskWork, ConcurrentFuture[BatchResult]]]) -> None:
        # one client.map for several batches: one graph update on the scheduler, not one
        # per batch
        placed = items[0][0].placed if len(items) == 1 else ()
        options = placement.options(placed, self._options)
        options["pure"] = self.pure
        if not self.pure:
            options["key"] = [f"parjob-{work.name}-{uuid.uuid4().hex}" for work, _ in items]
        client = self._call_client()
        datas = [work.data for work, _ in items]
        values = [work.futures for work, _ in items]
        # both calls schedule work on dask's event loop, which would keep the caller's
        # context (and so the block's scatter list) alive in what it starts from there,
        # such as a connection to a worker opened to fetch a result: isolated()
        tasks = isolated(client.map, run_batch, datas, values, **options)
        for task, (work, future) in zip(tasks, items, strict=True):
            self._active.add(task)
            # fetch the outcome in dask's event loop as soon as the task ends: no hop
            # through dask's one callback thread and back into the loop for every batch
            isolated(client.loop.add_callback, self._relay, client, task, work, future)

    async def _relay(
        self,
        client: Client,
        task: Future,
        work: DaskWork,
        future: ConcurrentFuture[BatchResult],
    ) -> None:
        outcome: Any = None
        error: BaseException | None = None
        killed = False
        try:
            outcome = await client.gather(task, asynchronous=True)
        except BaseException as exc:  # the batch's TaskFailure, KilledWorker, cancelled, ...
            error, killed = failures.failure(client, task, exc)
        with self._lock:
            self._active.discard(task)
            # a batch lost with KilledWorker may only have been queued behind the culprit:
            # sent again before it is blamed (see parjob_dask.suspects)
            # (a pure task would get its old key, and its old outcome, back)
            held = killed and not self.pure and self._suspects.held(work, future)
            if not killed:
                self._suspects.ended(future)
            # the place on the cluster goes to a suspect first, else to a waiting batch
            waiting = self._suspects.next()
            if waiting is None and self._pending:
                waiting = self._pending.popleft()
            if waiting is not None:
                try:
                    self._launch([waiting])
                except Exception as exc:  # e.g. the client closed: fail it, never hang
                    closed = client.status in ("closing", "closed")
                    settle(waiting[1], None, failures.client_closed(client) if closed else exc)
                    self._suspects.ended(waiting[1])
        if not held:
            settle(future, outcome, error)

    def stop(self) -> None:
        self._release()
        if self._seceded is not None:
            if self._seceded == threading.get_ident():
                from distributed import rejoin

                rejoin()
            self._seceded = None
        self._close_store()
        if self._block is not None:
            # the block's data is the block's: it goes when the block ends, not with this
            # instance (which a Parallel made in the block may keep longer)
            self._explicit = EMPTY
            self._explicit_client = None

    def cancel(self, future: ConcurrentFuture[BatchResult]) -> bool:  # type: ignore[override]
        """One late batch: dropped if it has not been sent to dask; else False. A running
        dask task cannot be stopped (a thread), and cancelling it would free its place on
        the worker in name only: it is left to end, holding its place, and the call's end
        cancels it (on parjob's own cluster, by restarting the worker; see abort)."""
        with self._lock:
            return drop_queued(self._pending, future) or drop_queued(self._suspects.waiting, future)

    def abort(self) -> None:
        """Cancel the call's dask tasks. On parjob's own cluster, running ones are stopped
        by restarting its workers (when no other call or scattered data uses it), so the
        next call starts at once; on a user's cluster they run to their end."""
        with self._lock:
            running = [task for task in self._active if not task.done()]
        keys = {task.key for task in running}
        self._release()
        self._close_store()
        client = self._client
        if running and client is not None and not self._in_worker:
            cluster.restart_if_only(client, keys)

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _release(self) -> None:
        with self._lock:
            tasks = list(self._active)
            self._active.clear()
            pending = [future for _, future in self._pending]
            pending += self._suspects.clear()
            self._pending.clear()
            self._auto = EMPTY
        for future in pending:
            future.cancel()
        if tasks and self._client is not None:
            with contextlib.suppress(Exception):  # a closing client drops its futures anyway
                isolated(self._client.cancel, tasks)

    def __repr__(self) -> str:
        where = self._client.scheduler.address if self._client is not None else "not connected"
        return f"<DaskBackend {where}>"


def _short(obj: Any, limit: int = 80) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."
