"""How a wave of batches runs as one Spark job: two strategies behind one interface.

A wave is a list of :class:`Pending` batches; :meth:`Strategy.run` runs them as one Spark
job with one partition per batch, in the calling (driver-side) thread, and settles each
batch's Future as its partition's outcome reaches the driver, so the core streams results
and sends the next wave while the slowest partition of this one still runs.

* :class:`ClassicStrategy` (an RDD over the pickled batches): each partition hands its
  outcome to a Python accumulator, and pyspark delivers accumulator updates to the driver
  as each task completes (through its accumulator socket), so a Future settles the moment
  its partition ends, in any order. The job's own result is empty.
* :class:`ConnectStrategy` (Spark Connect has no SparkContext nor RDD): ``mapInArrow``
  over ``spark.range(n, numPartitions=n)``, one id per partition, the pickled batches in
  the function's closure; ``toLocalIterator`` streams the outcomes back as the server
  sends them (in partition order, as each is ready).

A partition never raises for a task's error: it returns the batch's ``TaskFailure`` as a
value, so the caller gets the task's own exception type and traceback, not Spark's error
text, and Spark's task retries are left for lost executors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import pickle
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import CancelledError, Future, InvalidStateError
from typing import Any, NamedTuple

import cloudpickle

from parjob import crashes
from parjob.errors import TaskFailure
from parjob.tasks import BatchResult
from parjob_spark.broadcast import load_batch


class SparkWork(NamedTuple):
    """A batch ready for Spark: its pickle, and the shipped objects it refers to."""

    data: bytes
    handles: tuple[Any, ...]
    call: str

    def __call__(self) -> BatchResult:  # the contract's Work: runnable in the caller too
        return load_batch(self.data, self.handles, self.call)()


@dataclasses.dataclass
class Pending:
    """A batch of a wave and the Future the core waits on."""

    work: SparkWork
    future: Future[BatchResult]


@dataclasses.dataclass(frozen=True)
class CallOptions:
    """What one call's jobs run under: its group/tag, and the user's Spark knobs."""

    group: str
    description: str
    pool: str | None = None
    profile: Any = None  # a pyspark ResourceProfile (stage-level scheduling)
    retries: int = 0  # Spark task attempts beyond the first for a failing batch


# -- in the executor -------------------------------------------------------------------


def run_work(data: bytes, handles: Sequence[Any], call: str, retries: int = 0) -> bytes:
    """Run one batch; its outcome (results or TaskFailure) pickled, never raised.

    Except to ask Spark for a retry: while this task attempt is below ``retries``, a
    failure raises, and Spark runs the task again (its own retries, maybe elsewhere).
    """
    try:
        outcome: tuple[bool, Any] = (True, load_batch(data, handles, call)())
    except TaskFailure as failure:
        outcome = (False, failure)
    except BaseException as exc:  # unpickling failed (a module missing on the executor...)
        failure = TaskFailure.capture(-1, "loading the batch", exc, portable=True)
        outcome = (False, failure)
    if not outcome[0] and retries:
        from pyspark import TaskContext

        attempt = TaskContext.get().attemptNumber()
        if attempt < retries:
            raise RetryRequest(f"parjob: attempt {attempt} failed, Spark retries the task")
    try:
        return cloudpickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # a result that does not pickle: the core names its task
        kind = TypeError if isinstance(exc, TypeError) else pickle.PicklingError
        return cloudpickle.dumps((False, kind(str(exc))), protocol=pickle.HIGHEST_PROTOCOL)


class RetryRequest(RuntimeError):
    """Raised in a Spark task so that Spark runs it again (``retries=``)."""


def settle(future: Future[BatchResult], outcome: bytes | BaseException) -> None:
    """Put an outcome into ``future`` (nothing when the core already cancelled it)."""
    with contextlib.suppress(InvalidStateError):
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
            return
        ok, value = pickle.loads(outcome)
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class Strategy:
    """Runs a wave of batches as one Spark job; cancels a call's jobs."""

    def run(self, wave: list[Pending], options: CallOptions) -> None:
        raise NotImplementedError

    def cancel(self, options: CallOptions) -> None:
        raise NotImplementedError


def _fail_unsettled(wave: list[Pending], error: BaseException | None) -> None:
    unsettled = [pending for pending in wave if not pending.future.done()]
    if error is not None and not isinstance(error, CancelledError):
        if len(unsettled) == 1:  # the job failed for this batch: its worker, if one died
            crashes.blame(error, _how(error))
        else:  # one job for several batches: which one failed it is unknown; the core
            crashes.spare(error)  # sends them again one by one, then knows
    for pending in unsettled:
        settle(pending.future, error or CancelledError("the Spark job ended without it"))


def _how(error: BaseException) -> str:
    """How the Python worker ended, as far as Spark's message says (its exit code)."""
    found = re.search(r"exit code:? ?(-?\d+)", str(error), re.IGNORECASE)
    if found:
        code = int(found.group(1))
        # Spark reports a signal as 128 + its number, or as a negative code
        return crashes.describe_exit(-(code - 128) if code > 128 else code)
    return f"failed its Spark job: {_first_line(str(error))}"


# -- classic Spark: an RDD, outcomes through an accumulator ------------------------------


class _Relay:
    """Carries partition outcomes to the driver's Futures as each task completes.

    An accumulator parameter by duck typing (``zero``, ``addInPlace``) rather than a
    subclass of pyspark's ``AccumulatorParam``: importing pyspark takes 0.3 s, and this
    module is imported whenever parjob loads its plugins.

    In the executor, ``add((key, outcome))`` appends to the task's list; on the driver,
    pyspark's accumulator server merges each completed task's list, which settles the
    Futures waiting under those keys. The driver-side value stays empty.
    """

    def zero(self, value: Any) -> list[Any]:
        return []

    def addInPlace(self, value1: Any, value2: Any) -> Any:
        if isinstance(value2, tuple):  # in the executor: one partition's outcome
            return [*value1, value2]
        for key, outcome in value2:  # on the driver: a completed task's updates
            future = _waiting.pop(key, None)
            if future is not None:
                settle(future, outcome)
        return value1


_waiting: dict[str, Future[BatchResult]] = {}
_relays: dict[int, tuple[Any, Any]] = {}  # id(SparkContext) -> (context, accumulator)
_relay_lock = threading.Lock()


def _accumulator(sc: Any) -> Any:
    with _relay_lock:
        found = _relays.get(id(sc))
        if found is None or found[0] is not sc:
            found = (sc, sc.accumulator([], _Relay()))
            _relays[id(sc)] = found
        return found[1]


def _classic_partition(
    accumulator: Any,
    call: str,
    handles: Sequence[Any],
    retries: int,
    rows: Iterator[tuple[str, bytes]],
) -> Iterator[None]:
    for key, data in rows:
        accumulator.add((key, run_work(data, handles, call, retries)))
    return iter(())


class ClassicStrategy(Strategy):
    def __init__(self, session: Any) -> None:
        self.sc = session.sparkContext

    def run(self, wave: list[Pending], options: CallOptions) -> None:
        sc = self.sc
        sc.setJobGroup(options.group, options.description, interruptOnCancel=True)
        sc.setLocalProperty("spark.scheduler.pool", options.pool)  # None: the default pool
        keys = [f"{options.group}-{id(pending)}" for pending in wave]
        for key, pending in zip(keys, wave, strict=True):
            _waiting[key] = pending.future
        error: BaseException | None = None
        try:
            first = wave[0].work
            rows = [(key, p.work.data) for key, p in zip(keys, wave, strict=True)]
            rdd = sc.parallelize(rows, len(rows))  # one batch per partition
            partition = functools.partial(
                _classic_partition, _accumulator(sc), first.call, first.handles, options.retries
            )
            rdd = rdd.mapPartitions(partition)
            if options.profile is not None:
                rdd = rdd.withResources(options.profile)
            rdd.count()
        except BaseException as exc:
            error = job_error(exc)
        finally:
            for key in keys:
                _waiting.pop(key, None)
        _fail_unsettled(wave, error)

    def cancel(self, options: CallOptions) -> None:
        self.sc.cancelJobGroup(options.group)


# -- Spark Connect: mapInArrow over a range, outcomes streamed back ----------------------

_SCHEMA = "position long, outcome binary"


def _arrow_partition(
    datas: Sequence[bytes],
    call: str,
    handles: Sequence[Any],
    retries: int,
    batches: Iterator[Any],
) -> Iterator[Any]:
    import pyarrow

    for record_batch in batches:
        for position in record_batch.column(0).to_pylist():
            outcome = run_work(datas[position], handles, call, retries)
            yield pyarrow.RecordBatch.from_pydict(
                {"position": [position], "outcome": [outcome]},
                schema=pyarrow.schema(
                    [("position", pyarrow.int64()), ("outcome", pyarrow.binary())]
                ),
            )


class ConnectStrategy(Strategy):
    def __init__(self, session: Any) -> None:
        self.spark = session

    def run(self, wave: list[Pending], options: CallOptions) -> None:
        spark = self.spark
        if options.pool is not None:
            raise ValueError("pool= needs classic Spark: Spark Connect has no scheduler pools")
        spark.addTag(options.group)  # this thread's operations carry the call's tag
        error: BaseException | None = None
        try:
            first = wave[0].work
            partition = functools.partial(
                _arrow_partition,
                [p.work.data for p in wave],
                first.call,
                first.handles,
                options.retries,
            )
            frame = spark.range(0, len(wave), 1, len(wave))
            if options.profile is not None:
                frame = frame.mapInArrow(partition, _SCHEMA, profile=options.profile)
            else:
                frame = frame.mapInArrow(partition, _SCHEMA)
            for row in frame.toLocalIterator():
                settle(wave[row.position].future, bytes(row.outcome))
        except BaseException as exc:
            error = job_error(exc)
        finally:
            with contextlib.suppress(Exception):
                spark.removeTag(options.group)
        _fail_unsettled(wave, error)

    def cancel(self, options: CallOptions) -> None:
        self.spark.interruptTag(options.group)


def job_error(exc: BaseException) -> BaseException:
    """A short error for a failed Spark job (the core names the batch it was running)."""
    text = str(exc).strip()
    if "cancel" in text.lower() or "interrupt" in text.lower():
        return CancelledError(f"the Spark job was cancelled: {_first_line(text)}")
    return RuntimeError(f"the Spark job failed: {type(exc).__name__}: {_first_line(text)}")


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:500]
    return text
