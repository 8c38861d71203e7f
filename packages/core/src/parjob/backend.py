"""The backend contract: what a backend must provide, and nothing the core can do itself.

A backend is started with an effective ``n_jobs``, receives batches of tasks through
:meth:`Backend.submit`, returns :class:`concurrent.futures.Future` objects, and is stopped
or aborted. Batching, ordering, generators, timeouts, error handling, progress and nesting
are the core's job (see ``parjob.runner``), so a backend stays a small class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import Any, ClassVar

from parjob import threadlimits, workerside
from parjob.cpu import cpu_count
from parjob.errors import BackendError, SerializationError
from parjob.tasks import Batch, BatchResult, EncodedBatch

#: Version of this contract. A plugin states the version it was written for when it
#: registers a backend; the core refuses, with a clear message, a version it does not speak.
CONTRACT_VERSION = 1
SUPPORTED_CONTRACTS = frozenset({1})


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """Per-call settings a backend may use; the core resolves them before ``start``."""

    temp_folder: str | None = None
    max_nbytes: int | None = 1024**2
    mmap_mode: str | None = "r"
    inner_max_num_threads: int | None = None
    timeout: float | None = None
    #: Replace a worker process after it has run this many tasks (None: never); only
    #: backends with ``recycles_workers`` receive a value.
    max_tasks_per_worker: int | None = None


Work = Callable[[], BatchResult]


class Backend:
    """Base class for parjob backends.

    Subclasses set ``name`` and the capability flags, and implement :meth:`submit`.
    ``submit`` receives a zero-argument callable (a :class:`~parjob.tasks.Batch`, or its
    encoded form when ``serializes`` is true) and returns a Future of its result.
    """

    #: The name users pass to ``parallel_config``.
    name: ClassVar[str] = "base"
    #: Workers are threads of the calling process (they share its memory).
    uses_threads: ClassVar[bool] = False
    #: Tasks cross a process or machine boundary, so the core pickles each batch first
    #: (through :meth:`encode`) and reports unpicklable objects before dispatch.
    serializes: ClassVar[bool] = True
    #: Workers live on this machine; with one worker the core then runs tasks inline.
    local: ClassVar[bool] = True
    #: :meth:`abort` can stop a running task (a process can be killed, a thread cannot).
    can_interrupt: ClassVar[bool] = False
    #: How long a batch of tiny tasks should run, so per-batch overhead stays small.
    target_batch_seconds: ClassVar[float] = 0.2
    #: Rank among backends for the default choice; higher wins, None never default.
    default_priority: ClassVar[int | None] = None
    #: n_jobs when neither the call nor a config block sets it (-1: every worker, as for
    #: a cluster, where "one" would be a surprising default).
    default_n_jobs: ClassVar[int] = 1
    #: Tasks running on this backend's workers may start local worker processes of their
    #: own (False for forked workers, where a nested process pool would hang or fail: a
    #: nested process backend then runs on this backend's ``nested`` choice instead).
    workers_start_processes: ClassVar[bool] = True
    #: The backend honours ``RunSettings.max_tasks_per_worker``: a worker that has run that
    #: many tasks is replaced by a fresh one. The core then keeps each batch within that
    #: many tasks; a call that sets it on a backend without this flag is refused.
    recycles_workers: ClassVar[bool] = False
    #: :meth:`submit_avoiding` can now keep a batch off the workers it names, so that a
    #: retry runs elsewhere: the backend chooses where work runs, and has more than one
    #: place to run it. A cluster backend makes it a property (one worker, or one node,
    #: leaves nothing to avoid).
    can_avoid_workers: ClassVar[bool] = False

    def __new__(cls, *args: Any, **kwargs: Any) -> Backend:
        self = super().__new__(cls)
        # the constructor's arguments, so that fresh() can make a twin of this instance
        self._parjob_arguments = (args, kwargs)
        return self

    def __init__(self, **backend_params: Any) -> None:
        if backend_params:
            names = ", ".join(sorted(backend_params))
            raise TypeError(f"the {self.name!r} backend takes no parameters, got: {names}")

    @property
    def nesting_level(self) -> int:
        """0 in the caller, 1 inside a task of a top-level call, and so on (as joblib's)."""
        return workerside.nesting_level()

    # -- sizing ----------------------------------------------------------------------
    def capacity(self) -> int:
        """How many tasks this backend can run at once when ``n_jobs=-1``."""
        return cpu_count()

    def effective_n_jobs(self, n_jobs: int) -> int:
        """Resolve a validated ``n_jobs`` (never 0 or None) to a worker count."""
        if n_jobs < 0:
            return max(self.capacity() + 1 + n_jobs, 1)
        return n_jobs

    def running_at_once(self, n_jobs: int) -> int:
        """How many batches actually run at once with this effective ``n_jobs``.

        With ``timeout=``, the core keeps no more batches than this in flight, so a batch's
        clock starts about when it starts running rather than while it waits in a queue.
        A cluster backend whose ``n_jobs`` can exceed its slots returns the smaller of the two.
        """
        return n_jobs

    def nested(self, n_jobs: int) -> tuple[str, int]:
        """The backend name and n_jobs that ``Parallel`` calls inside a task default to."""
        return ("sequential", 1)

    def cpu_share(self, n_jobs: int) -> threadlimits.Share | None:
        """How many CPUs each worker of a call with ``n_jobs`` workers may keep busy: the
        limit of its native thread pools (BLAS, OpenMP) and what ``cpu_count()`` (so
        ``n_jobs=-1``) gives inside its tasks. ``inner_max_num_threads=`` overrides it.

        Optional. An int, or a picklable function the worker calls to compute it where the
        engine knows its slots (a cluster); None sets no limit. The default: this machine's
        CPUs divided by ``n_jobs`` for local workers, None for a cluster.
        """
        return threadlimits.default_share(n_jobs) if self.local else None

    # -- lifecycle -------------------------------------------------------------------
    def start(self, n_jobs: int, settings: RunSettings) -> None:
        """Get ready to run ``n_jobs`` tasks at once; called before every call, so it must be
        cheap when the workers are already up (and restart them after :meth:`abort`)."""

    def encode(self, batch: Batch) -> Work:
        """Turn a batch into what :meth:`submit` sends; pickles it when ``serializes``.

        The work returned must not need the batch's tasks later: once it is submitted, the
        core releases them (``Batch.release``), keeping only what error messages name.
        """
        return EncodedBatch.of(batch)

    def submit(self, work: Work) -> Future[BatchResult]:
        """Schedule ``work()`` and return a Future of its result."""
        raise NotImplementedError

    def submit_avoiding(self, work: Work, workers: frozenset[str]) -> Future[BatchResult]:
        """Schedule ``work()`` as :meth:`submit` does, on a worker not in ``workers`` where
        there is one: the core sends a retry this way, naming where the task failed.

        Optional; the default just submits (the backend cannot choose). ``workers`` are
        worker ids as ``BatchResult.worker`` gives them (``parjob.workerid``); a backend that
        places work by process or by machine compares that part of them, and ignores ids
        it does not know (a worker gone). Never wait for another worker to join: when every
        worker is in ``workers``, run the batch anywhere. Override it together with
        :attr:`can_avoid_workers`.
        """
        return self.submit(work)

    def submit_many(self, works: list[Work]) -> list[Future[BatchResult]]:
        """Schedule several batches at once, in order: the first wave, or the tail.

        Optional. A backend that pays per message (a cluster scheduler) can send them
        together; the default submits them one by one. When ``submit`` refuses one (a
        ``concurrent.futures`` pool that broke since the last batches says so there), it
        and the rest get :class:`Refused` futures, so the core still knows which batches
        went out; the core then raises, or applies the call's failure policy.
        """
        futures: list[Future[BatchResult]] = []
        for work in works:
            try:
                futures.append(self.submit(work))
            except (BackendError, SerializationError):
                raise
            except Exception as exc:
                futures.extend(Refused(exc) for _ in range(len(works) - len(futures)))
                break
        return futures

    def cancel(self, future: Future[BatchResult]) -> bool:
        """Stop the one batch behind ``future``: it ran past its timeout under
        ``on_error="collect"`` or ``"skip"``, and the call goes on without it.

        Optional. True when the batch will not go on running (it had not started, or its
        worker was stopped); False when it runs on in the background (the core then warns).
        The default cancels a batch that has not started. A backend whose ``submit`` returns
        a Future of its own, never marked running, must override it: ``Future.cancel()``
        would succeed on it without stopping the work.
        """
        return future.cancel()

    def stop(self) -> None:
        """End of a call (or of a ``with Parallel()`` block): release per-call resources."""

    def abort(self) -> None:
        """Stop what is still running (timeout, error, Ctrl-C); the next ``start`` must work."""

    def fresh(self) -> Backend:
        """A new instance made with the same constructor arguments as this one.

        The core runs each call on an instance of its own: a call that starts while this
        instance is running another call (a shared ``parallel_config(backend=instance)``
        used from several threads) runs on a fresh twin, so per-call state kept on the
        instance is never shared. Constructors must therefore be cheap and start nothing.
        """
        args, kwargs = getattr(self, "_parjob_arguments", ((), {}))
        return type(self)(*args, **kwargs)

    def startup_note(self) -> str | None:
        """A line for ``verbose`` output before a first call whose start takes seconds
        (an engine started or connected to on first use), so nothing looks hung; else None.

        Optional; called before the engine starts, so it must itself start nothing.
        """
        return None

    def __reduce__(self) -> tuple[Any, ...]:
        # an instance travels as its class and constructor arguments (a task may return
        # the backend it runs on, as joblib's tests do); per-call state stays behind
        args, kwargs = getattr(self, "_parjob_arguments", ((), {}))
        return (_rebuild, (type(self), args, kwargs))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _rebuild(cls: type[Backend], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Backend:
    return cls(*args, **kwargs)


def settle(future: Future[BatchResult], outcome: Any, error: BaseException | None) -> None:
    """Put a batch's outcome (or ``error``) into the Future a backend returned; nothing when
    the core already cancelled it (an abort). For backends that relay an engine's result."""
    try:
        if error is None:
            future.set_result(outcome)
        else:
            future.set_exception(error)
    except InvalidStateError:
        pass


def drop_queued(queued: Any, future: Future[BatchResult]) -> bool:
    """Remove ``future``'s entry from ``queued`` (a deque of ``(work, future)`` pairs that
    a backend holds back, not yet sent to its engine) and cancel it; False when it is not
    there. For a backend's ``cancel``, with the backend's lock held."""
    for at, (_, waiting) in enumerate(queued):
        if waiting is future:
            del queued[at]
            future.cancel()
            return True
    return False


class Refused(Future):  # type: ignore[type-arg]
    """The future of a batch the backend would not take: failed with the reason."""

    def __init__(self, reason: Exception) -> None:
        super().__init__()
        self.reason = reason
        self.set_exception(reason)
