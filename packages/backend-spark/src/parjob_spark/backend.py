"""``spark``: run parjob batches on Apache Spark, a wave of batches per Spark job.

The core batches tasks, orders results, applies timeouts and re-raises task errors; this
backend finds the session (:mod:`parjob_spark.session`), ships large arguments once per call
(:mod:`parjob_spark.broadcast`), and runs each ``submit_many`` wave as one Spark job with one
partition per batch (:mod:`parjob_spark.execution`), from a driver-side thread per wave, so
waves overlap and no slot idles while the slowest partition of a wave runs.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import CancelledError, Future
from typing import Any

from parjob.backend import Backend, RunSettings
from parjob.memmap import ArrayStore
from parjob.tasks import Batch, BatchResult
from parjob_spark import session as sessions
from parjob_spark.broadcast import Shipment
from parjob_spark.execution import (
    CallOptions,
    ClassicStrategy,
    ConnectStrategy,
    Pending,
    SparkWork,
    Strategy,
    settle,
)
from parjob_spark.resources import resource_profile

#: how long abort() keeps cancelling the call's jobs until their threads end
_ABORT_SECONDS = 30.0
#: one Spark job carries at most this many pickled bytes of batches (a larger one alone)
_WAVE_BYTES = 8 * 1024**2


class SparkBackend(Backend):
    """Batches as partitions of Spark jobs on the user's session or an embedded one.

    Parameters (``parallel_config("spark", ...)`` or ``Parallel(backend="spark", ...)``):

    ``spark``: a SparkSession (classic or Spark Connect); ``master``: a master URL to start
    a session on; ``remote``: a Spark Connect address. Default: the active session, else an
    embedded ``local[N]`` one. ``scatter``: objects shipped to the executors once per call.
    ``pool``: the fair-scheduler pool of the call's jobs. ``description``: the jobs'
    description in the Spark UI. ``resources``: per-task requests, e.g.
    ``{"cpus": 2, "gpus": 1}``, through stage-level scheduling.
    """

    name = "spark"
    uses_threads = False
    serializes = True
    local = False
    can_interrupt = True  # cancelling a job group / tag kills its running Python tasks
    # A Spark job costs 30-100 ms to schedule (more on a busy machine), and every round
    # trip of the core's batching is one: batches of ~0.5 s keep that under a fifth, and
    # the first batches' budget (twice this) is rarely cut short by a busy machine, which
    # would cost one more job per cut (100 CPU-bound tasks: 5 jobs instead of 1 under load)
    target_batch_seconds = 0.5
    default_priority = None
    default_n_jobs = -1

    def __init__(
        self,
        spark: Any = None,
        master: str | None = None,
        remote: str | None = None,
        scatter: Sequence[Any] | None = None,
        pool: str | None = None,
        description: str | None = None,
        resources: dict[str, float] | None = None,
        retries: int = 0,
    ) -> None:
        given = [
            name for name, v in (("spark", spark), ("master", master), ("remote", remote)) if v
        ]
        if len(given) > 1:
            raise ValueError(f"pass at most one of spark=, master=, remote=; got {given}")
        for label, value in (("master", master), ("remote", remote), ("pool", pool)):
            if value is not None and (not isinstance(value, str) or not value):
                raise TypeError(f"{label} must be a non-empty str, got {value!r}")
        if description is not None and not isinstance(description, str):
            raise TypeError(f"description must be a str, got {description!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an int >= 0, got {retries!r}")
        if scatter is not None and not isinstance(scatter, (list, tuple)):
            raise TypeError(f"scatter must be a list or tuple of objects, got {scatter!r}")
        if spark is None and remote is None and sessions.active_session() is None:
            problem = sessions.java_problem()  # a local session is started: it needs a JVM
            if problem is not None:
                raise RuntimeError(problem)
        self._spec = (spark, master, remote)
        self._scatter = tuple(scatter or ())
        self.pool = pool
        self.description = description
        self.resources = dict(resources) if resources else None
        self.retries = retries
        if self.resources:
            resource_profile(self.resources)  # a bad name or amount fails here, at once
        self._session: Any = None
        self._strategy: Strategy | None = None
        self._shipment: Shipment | None = None
        self._options: CallOptions | None = None
        self._lock = threading.Lock()
        self._cap: int | None = None
        self._running = 0
        self._pending: deque[list[Pending]] = deque()
        self._threads: set[threading.Thread] = set()
        self._aborting = False

    # -- the session -----------------------------------------------------------------
    @property
    def session(self) -> Any:
        """The SparkSession this backend runs on (found on first use)."""
        if self._session is None or sessions.stopped(self._session):
            self._session = sessions.find_session(*self._spec)
            connect = sessions.is_connect(self._session)
            self._strategy = (ConnectStrategy if connect else ClassicStrategy)(self._session)
        return self._session

    def capacity(self) -> int:
        """The session's task slots (default parallelism over spark.task.cpus), re-read."""
        return sessions.slots(self.session)

    def running_at_once(self, n_jobs: int) -> int:
        return min(n_jobs, self.capacity())

    def cpu_share(self, n_jobs: int) -> int:
        """The cores Spark gives each task: ``resources={"cpus": n}``, else
        ``spark.task.cpus`` (an executor runs its cores over that many tasks at once)."""
        if self.resources and self.resources.get("cpus"):
            return max(int(self.resources["cpus"]), 1)
        return sessions.task_cpus(self.session)

    def nested(self, n_jobs: int) -> tuple[str, int]:
        # inside a Spark task there is no session: threads on the executor's own cores
        return ("threading", -1)

    def startup_note(self) -> str | None:
        if self._session is not None and not sessions.stopped(self._session):
            return None
        address = sessions.will_start(*self._spec)
        if address is None:
            return None
        if self._spec[2] is not None and not address.startswith("local"):
            return f"Connecting to Spark Connect at {address}: a few seconds."
        if self._spec[2] is not None:  # a local Connect server, started in this process
            return f"Starting a Spark Connect server on {address} (a JVM): several seconds."
        return f"Starting a Spark session on {address} (a JVM): several seconds, once per process."

    # -- lifecycle -------------------------------------------------------------------
    def start(self, n_jobs: int, settings: RunSettings) -> None:
        session = self.session
        self._aborting = False
        self._release_shipment()
        mappable = settings.max_nbytes is not None and settings.mmap_mode is not None
        # in local mode the workers share this machine's memory: arrays are memory-mapped
        store = ArrayStore(settings) if mappable and sessions.local_mode(session) else None
        self._shipment = Shipment(
            session, sessions.is_connect(session), settings.max_nbytes, self._scatter, store
        )
        capacity = self.capacity()
        self._cap = n_jobs if n_jobs < capacity else None
        profile = resource_profile(self.resources, session) if self.resources else None
        self._options = CallOptions(
            group=f"parjob-{uuid.uuid4().hex}",
            description=self.description or "parjob",
            pool=self.pool,
            profile=profile,
            retries=self.retries,
        )
        if self.retries:
            allowed = sessions.max_task_failures(session)
            if self.retries >= allowed:
                raise ValueError(
                    f"retries={self.retries} needs Spark to run a task {self.retries + 1} "
                    f"times, but spark.task.maxFailures allows {allowed} (in local mode, "
                    f"use master='local[N,{self.retries + 1}]')"
                )
        if self.pool is not None and sessions.is_connect(session):
            raise ValueError("pool= needs classic Spark: Spark Connect has no scheduler pools")

    def encode(self, batch: Batch) -> SparkWork:
        shipment = self._shipment
        if shipment is None:
            raise RuntimeError("SparkBackend.encode called before start()")
        data, used = shipment.dumps(batch)
        handles = tuple(shipment.handles) if used else ()
        return SparkWork(data, handles, shipment.call)

    def submit(self, work: SparkWork) -> Future[BatchResult]:  # type: ignore[override]
        return self.submit_many([work])[0]

    def submit_many(self, works: list[SparkWork]) -> list[Future[BatchResult]]:  # type: ignore[override]
        wave = [Pending(work, Future()) for work in works]
        with self._lock:
            room = len(wave)
            if self._cap is not None:
                room = max(min(self._cap - self._running, room), 0)
            self._pending.extend([pending] for pending in wave[room:])
            for group in _groups(wave[:room]):
                self._launch(group)
        return [pending.future for pending in wave]

    def _launch(self, wave: list[Pending]) -> None:
        """Run ``wave`` as one Spark job in a thread of its own (under ``_lock``)."""
        options, strategy = self._options, self._strategy
        assert options is not None and strategy is not None
        self._running += len(wave)
        if self._cap is not None:
            for pending in wave:
                pending.future.add_done_callback(self._finished)
        thread = _job_thread(self, strategy, wave, options)
        self._threads.add(thread)
        thread.start()

    def _finished(self, _: Future[BatchResult]) -> None:
        with self._lock:
            self._running -= 1
            waiting = self._pending.popleft() if self._pending else None
            if waiting is not None:
                self._launch(waiting)

    def _run_wave(self, strategy: Strategy, wave: list[Pending], options: CallOptions) -> None:
        try:
            if self._aborting:
                raise CancelledError("the call was cancelled before this wave started")
            strategy.run(wave, options)
        except BaseException as exc:  # never leave a Future unsettled
            for pending in wave:
                if not pending.future.done():
                    settle(pending.future, exc)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())
                if self._cap is None:
                    self._running -= len(wave)

    def cancel(self, future: Future[BatchResult]) -> bool:
        """One late batch: dropped if its job has not started; else False (its job's other
        batches run on, so it is not stopped)."""
        with self._lock:
            for wave in self._pending:
                if any(item.future is future for item in wave) and len(wave) == 1:
                    self._pending.remove(wave)
                    future.cancel()
                    return True
        return False  # left to end, holding its slot (the call's end cancels its job)

    def stop(self) -> None:
        self._join()
        self._release_shipment()

    def abort(self) -> None:
        with self._lock:
            self._aborting = True  # waves not yet started stay unstarted
            pending = list(self._pending)
            self._pending.clear()
        for wave in pending:
            for item in wave:
                item.future.cancel()
        # A job submitted while the cancel was on its way would escape it (its thread was
        # between the check above and Spark registering the job): cancel again until every
        # job thread of this call has ended.
        deadline = time.monotonic() + _ABORT_SECONDS
        while self._alive() and time.monotonic() < deadline:
            if self._options is not None and self._strategy is not None:
                with contextlib.suppress(Exception):  # a stopping session ends its jobs
                    self._strategy.cancel(self._options)
            self._join(0.25)
        self._release_shipment()

    def _alive(self) -> bool:
        with self._lock:
            return any(thread.is_alive() for thread in self._threads)

    def _join(self, timeout: float = 30.0) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _release_shipment(self) -> None:
        if self._shipment is not None:
            self._shipment.release()
            self._shipment = None

    def __repr__(self) -> str:
        if self._session is None:
            return "<SparkBackend not connected>"
        kind = "connect" if sessions.is_connect(self._session) else "classic"
        return f"<SparkBackend {kind}>"


def _job_thread(
    backend: SparkBackend, strategy: Strategy, wave: list[Pending], options: CallOptions
) -> threading.Thread:
    name = f"parjob-spark-{options.group[7:15]}"
    target = backend._run_wave
    if isinstance(strategy, ClassicStrategy):
        # pyspark's thread type: the JVM thread it pins carries the job group, pool and
        # description set in it, and the caller's local properties are inherited
        from pyspark import InheritableThread

        return InheritableThread(target=target, args=(strategy, wave, options), name=name)
    return threading.Thread(target=target, args=(strategy, wave, options), name=name, daemon=True)


def _groups(wave: list[Pending]) -> list[list[Pending]]:
    """``wave`` in consecutive jobs of at most ``_WAVE_BYTES`` pickled bytes together."""
    groups: list[list[Pending]] = []
    size = 0
    for pending in wave:
        if not groups or size + len(pending.work.data) > _WAVE_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(pending)
        size += len(pending.work.data)
    return groups
