"""``max_tasks_per_worker=``: worker processes replaced after a number of tasks.

A :class:`RecyclingPool` is an executor made of one single-worker loky process executor
per worker ("slot"). It sends each batch to a slot it chooses, counting the tasks each
worker has been given, so it knows before sending a batch whether the worker still has
room for it; when it has not, that slot's executor is retired (it finishes what it holds,
then its process exits) and a fresh one takes its place. The core keeps every batch
within the limit, so a fresh worker always has room.

Why not loky's own pool for these calls: its reusable executor has no per-worker task
limit (its recycling is private), and the standard library's
``ProcessPoolExecutor(max_tasks_per_child=)`` counts work items, not tasks, cannot be used
with ``fork``, and can stop replacing workers and hang when work is queued (CPython issue
115634, fixed in 2026 and not on Python 3.11 or 3.12). Single-worker loky executors keep
everything the backends rely on: cloudpickle, crash detection with exit codes, killing a
worker.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, InvalidStateError
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any

from parjob.mainguard import MainGuardError, check_main_guard
from parjob.tasks import Batch, EncodedBatch
from parjob_loky import crash

#: batches held by one worker at once: the one it runs and the next (as loky queues one)
_PER_WORKER = 2
#: how long closing the pool waits for replaced workers to exit (they only have to exit)
_LEAVING_SECONDS = 10.0


class CountedBatch(EncodedBatch):
    """An encoded batch that also says how many tasks it holds (read by the pool only:
    it travels to the worker as a plain :class:`EncodedBatch`)."""

    __slots__ = ("tasks",)

    def __init__(self, data: bytes, tasks: int) -> None:
        super().__init__(data)
        self.tasks = tasks

    @classmethod
    def counted(cls, batch: Batch, pickler: Callable[[Any], bytes] | None) -> CountedBatch:
        return cls(EncodedBatch.of(batch, pickler).data, len(batch))

    def __reduce__(self) -> tuple[Any, ...]:
        return (EncodedBatch, (self.data,))


class _Slot:
    """One worker: a single-process executor and the tasks it has been given."""

    __slots__ = ("broken", "executor", "given", "holding")

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self.given = 0  # tasks sent to this worker so far (running, queued or done)
        self.holding = 0  # batches sent and not yet back
        self.broken = False


class _Relay(Future):  # type: ignore[type-arg]
    """The pool's future of one batch; cancelling it cancels the worker's, if it can."""

    def __init__(self, pool: RecyclingPool, tasks: int) -> None:
        super().__init__()
        self._pool = pool
        self.tasks = tasks
        self.inner: Future[Any] | None = None

    def cancel(self) -> bool:
        with self._pool._lock:
            inner = self.inner
            if inner is not None and not inner.cancel():
                return False  # running in its worker: only killing the worker stops it
            return super().cancel()


class RecyclingPool(Executor):
    """``n_workers`` worker processes, each replaced after ``max_tasks`` tasks.

    ``submit(fn, work, ...)`` counts ``work.tasks`` (a :class:`CountedBatch`) against the
    worker that runs it; anything else (a no-op to boot the workers) counts as none.
    """

    def __init__(self, n_workers: int, max_tasks: int, context: Any) -> None:
        self.n_workers = n_workers
        self.max_tasks = max_tasks
        self.context = context
        self._slots: list[_Slot | None] = [None] * n_workers
        self._retired: list[_Slot] = []  # replaced, still finishing batches they hold
        #: pids of workers whose executor was shut down without waiting for them
        self._leaving: set[int] = set()
        self._queue: deque[tuple[_Relay, Callable[..., Any], tuple[Any, ...]]] = deque()
        self._lock = threading.RLock()
        self._shutdown = False

    # -- the Executor interface ----------------------------------------------------------
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if kwargs:
            fn = partial(fn, **kwargs)
        tasks = getattr(args[0], "tasks", 0) if args else 0
        future = _Relay(self, tasks)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.append((future, fn, args))
            self._dispatch()
        return future

    def shutdown(
        self, wait: bool = True, *, cancel_futures: bool = False, kill_workers: bool = False
    ) -> None:
        with self._lock:
            self._shutdown = True
            queued = [entry[0] for entry in self._queue]
            self._queue.clear()
            slots = [slot for slot in self._slots if slot is not None] + self._retired
            self._slots = [None] * self.n_workers
            self._retired = []
            executors = [slot.executor for slot in slots]
            leaving, self._leaving = self._leaving, set()
        for future in queued:
            future.cancel()
        for executor in executors:
            with contextlib.suppress(Exception):
                executor.shutdown(wait=wait, kill_workers=kill_workers)
        if wait:  # the workers replaced earlier are on their way out: see them gone
            deadline = time.monotonic() + _LEAVING_SECONDS
            while any(crash.is_alive(pid) for pid in leaving) and time.monotonic() < deadline:
                time.sleep(0.01)

    # -- what the backends read ------------------------------------------------------------
    @property
    def _processes(self) -> dict[int, Any]:
        """Worker processes by pid, as a loky pool has them (see ``base._processes``)."""
        with self._lock:
            slots = [slot for slot in self._slots if slot is not None] + self._retired
        found: dict[int, Any] = {}
        for slot in slots:
            found.update(getattr(slot.executor, "_processes", None) or {})
        return found

    def renew(self) -> None:
        """Replace the workers that died, and wait until every worker has booted (after a
        worker was killed for running past a timeout, so the next batches' clocks do not
        run while new interpreters start)."""
        with self._lock:
            for at, slot in enumerate(self._slots):
                if slot is None or slot.broken:
                    self._slots[at] = self._replace(slot)
            booting = [slot.executor.submit(int) for slot in self._slots if slot is not None]
        for future in booting:
            with contextlib.suppress(Exception):
                future.result(timeout=10.0)

    # -- internals -------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Send queued batches to workers with room in their queue (lock held)."""
        while self._queue:
            future, fn, args = self._queue[0]
            tasks = future.tasks
            if future.cancelled():
                self._queue.popleft()
                continue
            at = self._choose(tasks)
            if at is None:
                return
            self._queue.popleft()
            slot = self._slots[at]
            if slot is None or slot.broken or slot.given + tasks > self.max_tasks:
                slot = self._slots[at] = self._replace(slot)
            try:
                inner = slot.executor.submit(fn, *args)
            except Exception:  # its worker died since its last batch: a fresh one runs it
                slot.broken = True
                slot = self._slots[at] = self._replace(slot)
                try:
                    inner = slot.executor.submit(fn, *args)
                except Exception as exc:
                    with contextlib.suppress(InvalidStateError):
                        future.set_exception(exc)
                    continue
            slot.given += tasks
            slot.holding += 1
            future.inner = inner
            inner.add_done_callback(partial(self._settle, slot, future))

    def _choose(self, tasks: int) -> int | None:
        """The worker for a batch of ``tasks``: the least busy, one with room first."""
        best: tuple[int, bool, int] | None = None
        for at, slot in enumerate(self._slots):
            holding = 0 if slot is None else slot.holding
            if holding >= _PER_WORKER:
                continue
            full = slot is None or slot.broken or slot.given + tasks > self.max_tasks
            key = (holding, full, at)
            if best is None or key < best:
                best = key
        return None if best is None else best[2]

    def _replace(self, slot: _Slot | None) -> _Slot:
        """A fresh worker for this slot; the old one finishes what it holds, then exits."""
        if slot is not None:
            if slot.holding and not slot.broken:
                self._retired.append(slot)
            else:
                self._end(slot, kill=slot.broken)
        from parjob_loky.forking import ProcessPool

        return _Slot(ProcessPool(1, context=self.context))

    def _end(self, slot: _Slot, kill: bool = False) -> None:
        # never waits: this may run in the executor's own thread (a done callback)
        pids = set(getattr(slot.executor, "_processes", None) or ())
        with contextlib.suppress(Exception):
            slot.executor.shutdown(wait=False, kill_workers=kill)
        self._leaving = {pid for pid in self._leaving if crash.is_alive(pid)} | pids

    def _settle(self, slot: _Slot, future: _Relay, inner: Future[Any]) -> None:
        """A batch came back from ``slot``: pass its outcome on, then send more."""
        with self._lock:
            slot.holding -= 1
            if inner.cancelled():
                slot.given -= future.tasks  # it never ran
            else:
                error = inner.exception()
                if isinstance(error, BrokenProcessPool):
                    slot.broken = True
            if slot in self._retired and slot.holding == 0:
                self._retired.remove(slot)
                self._end(slot)
        try:
            if inner.cancelled():
                future.cancel()
            elif inner.exception() is not None:
                future.set_exception(inner.exception())
            else:
                future.set_result(inner.result())
        except InvalidStateError:  # cancelled meanwhile
            pass
        with self._lock:
            if not self._shutdown:
                self._dispatch()


def fork_server() -> Any:
    """The start method for ``loky``'s replacement workers: Python's fork server, with
    this package and the main script loaded once in it, so a replacement costs a fork
    (milliseconds) rather than an interpreter start and its imports (about 0.1 s each).

    None (loky's own fresh interpreters) where there is no fork server, or when the main
    script starts workers without the ``__main__`` guard: the fork server imports it.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    try:
        check_main_guard("the fork server of replacement workers")
    except MainGuardError:
        return None
    context = multiprocessing.get_context("forkserver")
    # read when the fork server starts (once per process); '__main__' is the default. The
    # parts of parjob this process has loaded are what a worker's first batch imports.
    loaded = sorted(name for name in sys.modules if name.split(".")[0] == "parjob")
    context.set_forkserver_preload(
        ["__main__", "parjob_loky.worker", "loky.process_executor", *loaded]
    )
    return context
