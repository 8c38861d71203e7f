"""``ray``: run parjob batches as Ray tasks.

The core batches tasks, orders results, applies timeouts and re-raises task errors; this
backend connects to Ray (:mod:`parjob_ray.cluster`), swaps large arguments for object
store references (:mod:`parjob_ray.objects`), runs each batch as one Ray task and relays
its outcome to a :class:`concurrent.futures.Future`.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import CancelledError
from concurrent.futures import Future as ConcurrentFuture
from typing import TYPE_CHECKING, Any, NamedTuple

from parjob import crashes
from parjob.backend import Backend, RunSettings, drop_queued, settle
from parjob.errors import function_name
from parjob.references import load_batch
from parjob.tasks import Batch, BatchResult
from parjob_ray import cluster, placement, remote_args
from parjob_ray.objects import ObjectStoreArgs

if TYPE_CHECKING:
    from ray import ObjectRef


def run_batch(data: bytes, *values: Any) -> BatchResult:
    """Unpickle one batch (stored objects resolved by Ray), run it."""
    return load_batch(data, values)()


def run_batch_on_node(data: bytes, *values: Any) -> tuple[BatchResult, str]:
    """The Ray task: :func:`run_batch`, and the node it ran on (see ``placement``)."""
    return run_batch(data, *values), placement.node_id()


class RayWork(NamedTuple):
    """A batch ready for Ray: its pickle, the object refs it refers to, a task name, and
    (for a retry) the node Ray should prefer."""

    data: bytes
    refs: tuple[ObjectRef, ...]
    name: str
    node: str | None = None

    def __call__(self) -> BatchResult:  # the contract's Work: runnable in the caller too
        import ray

        return run_batch(self.data, *ray.get(list(self.refs)))


_remote_function: Any = None


def _remote() -> Any:
    global _remote_function
    if _remote_function is None:
        import ray

        _remote_function = ray.remote(run_batch_on_node)
    return _remote_function


class RayBackend(Backend):
    """Batches as Ray tasks on the user's Ray cluster or an embedded local one.

    Parameters (``parallel_config("ray", ...)`` or ``Parallel(backend="ray", ...)``):

    ``address``: a Ray cluster to connect to when this process is not connected yet
    (default: ``RAY_ADDRESS``, else an embedded local Ray).
    ``ray_remote_args``: options of every batch's task (``num_cpus``, ``num_gpus``,
    ``resources``, ``memory``, ``max_retries``, ``retry_exceptions``, ``runtime_env``,
    ``scheduling_strategy``); ``n_jobs=-1`` is as many tasks as the cluster has room for.
    ``scatter``: objects put into the object store once per call; tasks taking them get
    the stored copy. NumPy arrays over ``max_nbytes`` (a ``Parallel`` setting) go there too.
    """

    name = "ray"
    uses_threads = False
    serializes = True
    local = False
    # a cancelled task that runs in C code (a sleep, a NumPy call) finishes first: Ray
    # interrupts Python code only between bytecodes
    can_interrupt = False
    # a Ray task round trip costs ~2 ms: batches of 0.05 s keep that small, and keep the
    # tail balanced across workers
    target_batch_seconds = 0.05
    default_priority = None  # never the default backend: a cluster is asked for by name
    default_n_jobs = -1  # Parallel(backend="ray") uses the whole cluster

    def __init__(
        self,
        address: str | None = None,
        ray_remote_args: dict[str, Any] | None = None,
        scatter: Sequence[Any] | None = None,
    ) -> None:
        import ray  # noqa: F401 - fail here, where parjob reports it, if Ray is missing

        if address is not None and not isinstance(address, str):
            raise TypeError(f"address must be a Ray cluster address (str), got {address!r}")
        if scatter is not None and not isinstance(scatter, (list, tuple)):
            raise TypeError(f"scatter must be a list or tuple of objects, got {scatter!r}")
        self.address = address
        self.ray_remote_args = remote_args.checked(ray_remote_args)
        self._scatter = scatter
        self._lock = threading.Lock()
        self._active: dict[ObjectRef, ConcurrentFuture[BatchResult]] = {}
        self._pending: deque[tuple[RayWork, ConcurrentFuture[BatchResult]]] = deque()
        self._cap: int | None = None  # most batches on the cluster at once (explicit n_jobs)
        self._capacity: int | None = None  # the cluster's room, as read when the call began
        self._objects = ObjectStoreArgs(None, None)
        self._nested = False  # inside a Ray task: wait in Ray, so the task's CPU is released
        self._timeout: float | None = None
        self._nodes = placement.Nodes()

    # -- sizing ----------------------------------------------------------------------
    def capacity(self) -> int:
        """Batches the cluster has room for now: its resources over one task's demand."""
        cluster.connect(self.address)
        total = cluster.total_resources()
        slots = [
            math.floor(total.get(resource, 0.0) / amount + 1e-9)
            for resource, amount in remote_args.demand(self.ray_remote_args).items()
            if amount > 0
        ]
        return max(min(slots, default=1), 1)

    def running_at_once(self, n_jobs: int) -> int:
        capacity = self._capacity if self._capacity is not None else self.capacity()
        return min(n_jobs, capacity)

    def nested(self, n_jobs: int) -> tuple[str, int]:
        return ("ray", -1)

    def cpu_share(self, n_jobs: int) -> int:
        """The CPUs Ray reserves for each batch's task (``num_cpus``, 1 unless told): a
        node runs as many tasks at once as it has CPUs for."""
        return max(int(remote_args.demand(self.ray_remote_args)["CPU"]), 1)

    def startup_note(self) -> str | None:
        return cluster.startup_note(self.address)

    # -- lifecycle -------------------------------------------------------------------
    def start(self, n_jobs: int, settings: RunSettings) -> None:
        cluster.connect(self.address)
        self._release()
        self._capacity = capacity = self.capacity()  # read at each call: clusters grow
        self._cap = n_jobs if n_jobs < capacity else None
        self._objects = ObjectStoreArgs(settings.max_nbytes, self._scatter)
        self._nested = cluster.in_task()
        self._timeout = settings.timeout

    def encode(self, batch: Batch) -> RayWork:
        data, refs = self._objects.dumps(batch)
        return RayWork(data, refs, f"parjob {function_name(batch.first_function)}")

    def submit(self, work: RayWork) -> ConcurrentFuture[BatchResult]:  # type: ignore[override]
        return self.submit_many([work])[0]

    @property
    def can_avoid_workers(self) -> bool:  # type: ignore[override]
        """True on two live nodes or more, unless ``scheduling_strategy`` places the tasks."""
        if "scheduling_strategy" in self.ray_remote_args:
            return False
        cluster.connect(self.address)
        return len(placement.live_nodes()) > 1

    def submit_avoiding(  # type: ignore[override]
        self, work: RayWork, workers: frozenset[str]
    ) -> ConcurrentFuture[BatchResult]:
        """A retry: preferably on a node other than those of ``workers`` (see
        ``parjob_ray.placement``); as ``submit`` where ``scheduling_strategy`` is set."""
        if "scheduling_strategy" not in self.ray_remote_args:
            work = work._replace(node=self._nodes.elsewhere(workers))
        return self.submit_many([work])[0]

    def submit_many(  # type: ignore[override]
        self, works: list[RayWork]
    ) -> list[ConcurrentFuture[BatchResult]]:
        futures: list[ConcurrentFuture[BatchResult]] = [ConcurrentFuture() for _ in works]
        with self._lock:
            self._pending.extend(zip(works, futures, strict=True))
            launched = self._launch_pending()
        self._watch(launched)
        if self._nested:
            self._wait_in_ray()
        return futures

    def _launch_pending(self) -> list[ObjectRef]:
        """Submit queued batches while the cap allows (called with the lock held)."""
        remote = _remote()
        launched = []
        while self._pending and (self._cap is None or len(self._active) < self._cap):
            work, future = self._pending.popleft()
            options = placement.preferring(work.node, {**self.ray_remote_args, "name": work.name})
            try:
                ref = remote.options(**options).remote(work.data, *work.refs)
            except Exception as exc:  # e.g. Ray shut down: fail the batch, never hang
                settle(future, None, exc)
                continue
            self._active[ref] = future
            launched.append(ref)
        return launched

    def _watch(self, refs: list[ObjectRef]) -> None:
        """Have Ray call :meth:`_finished` when each task ends (not inside a Ray task,
        where :meth:`_wait_in_ray` collects them). Never with the lock held: the callback
        runs at once for a task that already ended."""
        if not self._nested:
            for ref in refs:
                ref.future().add_done_callback(lambda done, ref=ref: self._finished(ref, done))

    def _finished(self, ref: ObjectRef, done: ConcurrentFuture[Any]) -> None:
        """Ray's callback when a batch's task ends: relay its outcome, launch the next."""
        with self._lock:
            future = self._active.pop(ref, None)
            launched = self._launch_pending()
        self._watch(launched)
        if future is not None:
            _relay(future, done.result, self._nodes)

    def _wait_in_ray(self) -> None:
        """Inside a Ray task: wait for this wave in ``ray.wait``, where Ray lends the task's
        CPU to the nested tasks (a wait outside Ray would hold it: deadlock when every CPU
        is held by a waiting task). The core then finds the wave's futures done."""
        import ray

        began = time.monotonic()
        while True:
            with self._lock:
                refs = list(self._active)
            if not refs:
                return
            left = None if self._timeout is None else self._timeout - (time.monotonic() - began)
            if left is not None and left <= 0:
                return  # the core raises the timeout and aborts
            ready, _ = ray.wait(refs, num_returns=1, timeout=left, fetch_local=False)
            for ref in ready:
                with self._lock:
                    future = self._active.pop(ref, None)
                    self._launch_pending()  # collected by this loop, not watched
                if future is not None:
                    _relay(future, lambda ref=ref: ray.get(ref), self._nodes)

    def cancel(self, future: ConcurrentFuture[BatchResult]) -> bool:  # type: ignore[override]
        """One late batch: not started, it is dropped; running, Ray kills its worker
        process (``force=True``), which Ray replaces."""
        import ray

        with self._lock:
            if drop_queued(self._pending, future):
                return True
            ref = next((r for r, f in self._active.items() if f is future), None)
            if ref is not None:
                del self._active[ref]
        future.cancel()
        if ref is None:
            return True
        try:
            ray.cancel(ref, force=True)
        except Exception:
            return False
        return True

    def stop(self) -> None:
        self._release()

    def abort(self) -> None:
        self._release()

    def _release(self) -> None:
        """Cancel what is still queued or running, and drop the call's stored objects."""
        with self._lock:
            refs = list(self._active)
            self._active.clear()
            pending = list(self._pending)
            self._pending.clear()
        for _, future in pending:
            future.cancel()
        if refs:
            _cancel(refs)
        self._objects.release()

    def __repr__(self) -> str:
        return f"<RayBackend {self.address or 'default cluster'}>"


#: how long an abort keeps cancelling tasks that have not ended yet
_CANCEL_SECONDS = 2.0


def _cancel(refs: list[ObjectRef]) -> None:
    """Cancel ``refs``, again while any has not ended (for a short while).

    A cancel that reaches a task while Ray is still leasing it a worker (a busy machine)
    can be lost, and the task then runs to its end, holding its CPU; so cancel again until
    every task has ended or the time is up.
    """
    import ray

    end = time.monotonic() + _CANCEL_SECONDS
    while refs:
        for ref in refs:
            with contextlib.suppress(Exception):  # finished meanwhile, or Ray is gone
                ray.cancel(ref, force=False, recursive=True)
        left = end - time.monotonic()
        if left <= 0:
            return
        try:
            _, refs = ray.wait(
                refs, num_returns=len(refs), timeout=min(left, 0.1), fetch_local=False
            )
        except Exception:  # Ray is gone: nothing left to cancel
            return


def _relay(future: ConcurrentFuture[BatchResult], get: Any, nodes: placement.Nodes) -> None:
    """Put the outcome of a batch's task into ``future``: what the core expects to see;
    learn which node its worker is on."""
    from ray.exceptions import RayTaskError, TaskCancelledError

    outcome: Any = None
    error: BaseException | None = None
    try:
        outcome, node = get()
        nodes.learn(outcome.worker, node)
    except TaskCancelledError as exc:
        error = CancelledError(f"Ray cancelled the task: {exc}")
    except RayTaskError as exc:
        # the batch raised the core's TaskFailure (the task's own exception, and its
        # traceback as text); Ray wraps it: hand the core what the batch raised
        cause = getattr(exc, "cause", None)
        error = cause if isinstance(cause, BaseException) else exc
    except Exception as exc:  # a worker or node died, an object was lost, ...
        error = exc
        if _lost_worker(exc):
            crashes.blame(exc, f"was lost: {type(exc).__name__}: {_first_line(exc)}")
    if isinstance(error, BaseException):
        error = error.with_traceback(None)  # its frames would hold Ray's internals alive
    settle(future, outcome, error)


def _lost_worker(exc: BaseException) -> bool:
    """Whether Ray says the worker (or its node, or its actor) running the task died."""
    from ray import exceptions

    kinds = tuple(
        getattr(exceptions, name)
        for name in ("WorkerCrashedError", "NodeDiedError", "ActorDiedError", "OutOfMemoryError")
        if hasattr(exceptions, name)
    )
    return isinstance(exc, kinds)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else ""
