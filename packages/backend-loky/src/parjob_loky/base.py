"""What the ``loky`` and ``multiprocessing`` backends share.

A :class:`ProcessBackend` runs each batch through :func:`parjob_loky.worker.run` in an
executor of worker processes; a subclass only says how to open and close its executor.
Shared here: memory-mapping large arrays (``encode``), naming the
batch whose worker died, and stopping the workers on a timeout, an error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import os
import signal
import sys
import threading
import time
from concurrent.futures import Executor, Future, InvalidStateError, wait
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, ClassVar, NamedTuple

from parjob import callcontext, crashes, threadlimits
from parjob.backend import Backend, RunSettings, Work
from parjob.cpu import cpu_count
from parjob.memmap import ArrayStore
from parjob.tasks import Batch, BatchResult, EncodedBatch
from parjob.workerid import process_id
from parjob_loky import crash
from parjob_loky.recycling import CountedBatch, RecyclingPool
from parjob_loky.worker import run

#: How long cancel() waits for the pool to notice a worker it killed, and for a new one.
_NOTICE_SECONDS = 10.0
#: How long a new pool may take to boot all its workers before a call with timeout=.
_BOOT_SECONDS = 60.0
#: How long each boot no-op holds its worker.
_BOOT_HOLD = 0.02
#: Batch tokens, unique in this process, so a worker's record names one batch.
_tokens = itertools.count()


class _Pending(NamedTuple):
    outer: Future[BatchResult]  # what the core waits on
    inner: Future[Any]  # the executor's
    executor: Executor


class ProcessBackend(Backend):
    """Base class: batches run in worker processes of an executor the subclass provides."""

    uses_threads = False
    serializes = True
    local = True
    can_interrupt = True
    # batches are timed from when a worker starts them until their results are back here,
    # and large results count extra (see _timed)
    target_batch_seconds = 0.1
    #: Whether :meth:`stop` keeps the workers for the next call.
    keeps_workers: ClassVar[bool] = True
    #: ``max_tasks_per_worker`` runs on a :class:`~parjob_loky.recycling.RecyclingPool`
    recycles_workers: ClassVar[bool] = True

    def __init__(self) -> None:
        self._executor: Executor | None = None
        self._n_jobs = 0
        self._store: ArrayStore | None = None
        self._store_settings: RunSettings | None = None
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()
        self._blamed: BaseException | None = None
        #: the last pool break whose cause is known (a dead worker found, or one killed
        #: by cancel): the batches it took with it were only bystanders
        self._explained: BaseException | None = None
        #: workers killed by cancel (their batch ran past its timeout)
        self._killed: set[int] = set()
        self._timeout: float | None = None
        #: the call's max_tasks_per_worker: its batches go to a RecyclingPool
        self._max_tasks: int | None = None

    # -- what subclasses provide ----------------------------------------------------------
    def _open_executor(self, n_jobs: int) -> Executor:
        """An executor with ``n_jobs`` workers (reusing the current one when it can)."""
        raise NotImplementedError

    def _close_executor(self, executor: Executor, kill: bool) -> None:
        """Shut ``executor`` (a loky pool) down; with ``kill``, stop its workers at once."""
        executor.shutdown(wait=True, kill_workers=kill)  # type: ignore[call-arg]

    def _recycling_context(self) -> Any:
        """The start method of workers that are replaced after ``max_tasks_per_worker``."""
        return None  # loky's own: fresh interpreters

    # -- the contract ----------------------------------------------------------------------
    def nested(self, n_jobs: int) -> tuple[str, int]:
        # never a process pool per task: nested calls share this worker's CPU share (a
        # number, not -1: a batch run through the joblib bridge carries no budget)
        return ("threading", threadlimits.default_share(n_jobs))

    def start(self, n_jobs: int, settings: RunSettings) -> None:
        # called before every call, also inside a ``with Parallel()`` block
        self._n_jobs = n_jobs
        self._timeout = settings.timeout
        if settings != self._store_settings:
            self._close_store()
            self._store = ArrayStore(settings) if settings.mmap_mode is not None else None
            self._store_settings = settings
        elif self._store is not None:
            # arrays may have changed since the last call: write them again
            self._store.new_call()
        self._switch_pools(n_jobs, settings.max_tasks_per_worker)
        previous = self._executor
        executor = self._open(n_jobs)
        if not _workers_alive(executor):
            # a worker died between calls (killed while idle, out of memory): the pool may
            # not know yet, so start this call on a fresh one
            self._executor = None
            self._close_executor(executor, kill=True)
            executor = self._open(n_jobs)
        self._executor = executor
        if settings.timeout is not None and executor is not previous:
            # a timeout's clock starts at dispatch: let new workers boot before it runs
            if isinstance(executor, RecyclingPool):
                executor.renew()  # every worker, not just the one a no-op reaches
            else:
                _boot(executor, n_jobs)

    def encode(self, batch: Batch) -> Work:
        store = self._store
        pickler = store.dumps if store is not None else None
        if self._max_tasks is not None:  # the pool counts each worker's tasks
            return CountedBatch.counted(batch, pickler)
        return EncodedBatch.of(batch, pickler=pickler)

    def submit(self, work: Work) -> Future[BatchResult]:
        token = next(_tokens)
        args = (
            work,
            token,
            crash.status_folder(),
            self._store.results_folder() if self._store is not None else None,
        )
        executor = self._executor or self._reopen()
        try:
            inner = executor.submit(run, *args)
        except (BrokenProcessPool, RuntimeError):
            # the pool broke or was shut down since the call started (a worker killed while
            # idle, or another user of a shared pool): one retry on a fresh pool
            executor = self._reopen()
            inner = executor.submit(run, *args)
        outer: Future[BatchResult] = Future()
        self._pending[token] = _Pending(outer, inner, executor)
        inner.add_done_callback(partial(self._settle, token))
        return outer

    def cancel(self, future: Future[BatchResult]) -> bool:
        """Stop one late batch: cancel it if queued, else kill the worker running it (the
        pool then replaces its workers; the batches lost with them are sent again)."""
        with self._lock:
            token = next((t for t, e in self._pending.items() if e.outer is future), None)
            entry = self._pending.pop(token) if token is not None else None
        if entry is None:
            return future.cancel()
        entry.outer.cancel()
        if entry.inner.cancel():
            return True
        pid = {t: p for t, p in crash.last_started().items()}.get(token)
        if pid is None or os.name != "posix":
            return False
        self._killed.add(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        # wait for the pool to see it, then start the next batches on fresh, booted workers,
        # so their clocks do not run while a new interpreter starts
        with contextlib.suppress(Exception):
            wait([entry.inner], timeout=_NOTICE_SECONDS)
        if isinstance(self._executor, RecyclingPool):  # only that worker is replaced
            self._executor.renew()
            return True
        self._reopen()
        if self._timeout is not None and self._executor is not None:
            with contextlib.suppress(Exception):
                _boot(self._executor, self._n_jobs, _NOTICE_SECONDS)
        return True

    def stop(self) -> None:
        self._pending.clear()
        self._close_store()
        if self._executor is not None and (
            not self.keeps_workers or isinstance(self._executor, RecyclingPool)
        ):
            executor, self._executor = self._executor, None
            self._close_executor(executor, kill=False)
            if isinstance(executor, RecyclingPool):
                crash.forget_dead()  # the records of the workers it replaced

    def abort(self) -> None:
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
        running = False
        for entry in pending:
            entry.outer.cancel()
            if not entry.inner.cancel() and not entry.inner.done():
                running = True
        if running or not self.keeps_workers:
            executor, self._executor = self._executor, None
            if executor is not None:
                self._close_executor(executor, kill=True)
            crash.forget_dead()
        self._close_store()

    # -- internals -------------------------------------------------------------------------
    def _reopen(self) -> Executor:
        old, self._executor = self._executor, None
        if old is not None:
            with contextlib.suppress(Exception):  # already broken or shut down
                self._close_executor(old, kill=True)
        self._executor = self._open(self._n_jobs or cpu_count())
        return self._executor

    def _open(self, n_jobs: int) -> Executor:
        """The call's executor: the subclass's, or a pool that replaces its workers."""
        if self._max_tasks is None:
            return self._open_executor(n_jobs)
        if self._executor is not None:  # kept within a ``with Parallel()`` block
            return self._executor
        return RecyclingPool(n_jobs, self._max_tasks, self._recycling_context())

    def _switch_pools(self, n_jobs: int, max_tasks: int | None) -> None:
        """Close the pool the last call used when this call needs another kind or size."""
        executor = self._executor
        if isinstance(executor, RecyclingPool):
            same = (executor.n_workers, executor.max_tasks) == (n_jobs, max_tasks)
        else:
            same = max_tasks is None
        self._max_tasks = max_tasks
        if executor is not None and not same:
            self._executor = None
            if isinstance(executor, RecyclingPool) or not self.keeps_workers:
                self._close_executor(executor, kill=False)

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()

    def _settle(self, token: int, inner: Future[Any]) -> None:
        """Pass the executor's outcome on to the core's future (in the executor's thread)."""
        error = None if inner.cancelled() else inner.exception()
        if isinstance(error, BrokenProcessPool):
            with contextlib.suppress(Exception):  # a nicety: never lose the outcome for it
                self._blame(error)
            if error is self._explained:
                crashes.spare(error)
        entry = self._pending.pop(token, None)
        if entry is None:  # aborted, or already failed by _blame
            return
        try:
            if inner.cancelled():
                entry.outer.cancel()
            elif error is not None:
                entry.outer.set_exception(error)
            else:
                try:
                    result = _timed(*inner.result())
                except Exception as exc:  # never leave the core waiting
                    entry.outer.set_exception(exc)
                else:
                    entry.outer.set_result(result)
        except InvalidStateError:  # cancelled by the core meanwhile
            pass

    def _blame(self, error: BrokenProcessPool) -> None:
        """The pool broke: fail first the batches whose worker died, saying how it died.

        Runs when the executor fails its first future, before it stops the other workers,
        so the workers that are gone at this point are the ones that died.
        """
        with self._lock:
            if error is self._blamed:
                return
            self._blamed = error
            for token, pid in crash.last_started().items():
                if pid in self._killed:
                    self._explained = error
                entry = self._pending.get(token)
                if entry is None:
                    continue
                exitcode = _exitcode(entry.executor, pid)
                if exitcode is None and crash.is_alive(pid):
                    continue
                del self._pending[token]
                self._explained = error
                ended = crashes.describe_exit(exitcode)
                died = _worker_error(f"the worker process (pid {pid}) running it {ended}")
                crashes.blame(died, f"(pid {pid}) {ended}", worker=process_id(pid))
                died.__cause__ = error
                with contextlib.suppress(InvalidStateError):
                    entry.outer.set_exception(died)


#: Large results count as this many bytes per second of a batch's time (see _timed).
RESULT_BYTES_PER_SECOND = 128 * 1024**2


def _timed(result: BatchResult, started: float) -> BatchResult:
    """The batch's result, with the time the core sizes batches from.

    It runs from when the worker started the batch until its results arrived here, as
    sending large results back can cost more than computing them; and results count as
    at least ``RESULT_BYTES_PER_SECOND``, so batches of tasks that return large arrays
    stay small, and a generator consumed slowly holds few of them.
    """
    seconds = time.monotonic() - started
    if not result.seconds <= seconds < result.seconds + 3600:  # clocks not comparable
        seconds = result.seconds
    results = result.results
    numpy = sys.modules.get("numpy")
    if results and numpy is not None and isinstance(results[0], numpy.ndarray):
        # the first result stands for the batch: tasks of a call are usually alike
        held = results[0].nbytes * len(results)
        seconds = max(seconds, held / RESULT_BYTES_PER_SECOND)
    return result._replace(seconds=seconds)


def _boot(executor: Executor, n_jobs: int, limit: float = _BOOT_SECONDS) -> None:
    """Wait until ``n_jobs`` distinct workers of a new pool have each run a no-op (or
    ``limit`` seconds pass): one reply only proves the fastest booted, and a batch given
    to a worker still importing would start its timeout's clock too early."""
    seen: set[int] = set()
    modules = callcontext.filter_modules()
    deadline = time.monotonic() + limit
    while len(seen) < n_jobs and time.monotonic() < deadline:
        # each no-op holds its worker briefly, so a booted worker cannot take them all
        round_ = [executor.submit(_boot_one, _BOOT_HOLD, modules) for _ in range(n_jobs)]
        seen.update(future.result() for future in round_)


def _boot_one(seconds: float, modules: tuple[str, ...]) -> int:
    """In a new worker: import what the call's warning filters will need, hold, say who."""
    for name in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    time.sleep(seconds)
    return os.getpid()


def _workers_alive(executor: Executor) -> bool:
    """False when a worker of ``executor`` has died (read from its table of processes)."""
    try:
        return all(process.is_alive() for process in list(_processes(executor).values()))
    except Exception:  # the table changed meanwhile: let the pool report its own state
        return True


def _processes(executor: Executor) -> dict[int, Any]:
    """The pool's worker processes by pid.

    loky's process pools keep them in ``_processes`` (as the standard library's do); it is
    only read: after a crash (``_exitcode``) and before a call (``_workers_alive``).
    """
    return getattr(executor, "_processes", None) or {}


def _exitcode(executor: Executor, pid: int) -> int | None:
    """Exit code of worker ``pid`` (negative: killed by that signal), None while it runs."""
    process = _processes(executor).get(pid)
    if process is None:
        return None
    try:
        return process.exitcode
    except Exception:
        return None


def _worker_error(message: str) -> BrokenProcessPool:
    try:
        from loky.process_executor import TerminatedWorkerError
    except ImportError:  # pragma: no cover - loky is a dependency
        return BrokenProcessPool(message)
    return TerminatedWorkerError(message)
