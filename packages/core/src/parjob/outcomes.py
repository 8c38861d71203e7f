"""In the caller: a call's failure policy applied to what comes back from its batches.

Under a policy other than raise-at-once (see :class:`parjob.policy.Policy`), each batch
keeps going past a failing task and returns the failure in that task's slot
(:mod:`parjob.capture`). Here each failure becomes a retry (a one-task batch, sent again
after the policy's delay), a :class:`~parjob.errors.TaskError` in the results
(``"collect"``), a gap (``"skip"``), or the call's error (``"raise"``). A batch lost with
its worker, or past its timeout, is split into one-task batches first, so the task at
fault is found and named; then it counts as that task's crash (or timeout). A task is
sent again away from the workers it failed or died on, where the backend can choose
(``Backend.submit_avoiding``).
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from parjob import crashes
from parjob.capture import WithFailures
from parjob.errors import (
    ResultSerializationError,
    TaskError,
    TaskTimeoutError,
    WorkerCrashedError,
    function_name,
)
from parjob.policy import CRASHES_IN_A_ROW, Policy
from parjob.progress import Progress
from parjob.tasks import Batch
from parjob.warn import warn_user

#: a batch lost with others (``crashes.spare``) is sent again at most this many times as it
#: is; after that it counts as lost by its own doing
_SPARED_RESENDS = 3


class Settled(NamedTuple):
    """A finished batch, as the runner hands it on: runs of results, and batches to send.

    ``parts`` are ``(input position, results)``; ``again`` are ``(when, batch)``, a
    ``time.monotonic()`` before which the batch is not sent.
    """

    parts: list[tuple[int, list[Any]]]
    again: list[tuple[float, Batch]]


class Outcomes:
    """Counts each task's failures and decides what becomes of them, for one call."""

    def __init__(self, policy: Policy, progress: Progress, nested: tuple[str, int]) -> None:
        self.policy = policy
        self.progress = progress
        self.nested = nested
        #: per input position: failed runs (an exception, or past the timeout)
        self.failed: dict[int, int] = {}
        #: per input position: runs whose worker died
        self.crashed: dict[int, int] = {}
        self.resent: dict[int, int] = {}
        #: per input position: the workers it failed or died on, for its retries to avoid
        self.failed_on: dict[int, frozenset[str]] = {}
        self.skipped = 0
        self.first_skipped: TaskError | None = None

    def batch(self, start: int, tasks: list[Any], budget: float | None = None) -> Batch:
        """A batch that keeps going past a failing task (its failure comes back in its slot)."""
        made = Batch(start, tasks, self.nested, budget)
        made.keep_going = True
        return made

    # -- a batch came back ---------------------------------------------------------------
    def settle(self, batch: Batch, results: list[Any], outcome: Any = ()) -> Settled:
        """``results`` (some slots holding a ``TaskFailure``) as parts and retries; the
        batch's ``outcome`` (a ``BatchResult``) says which worker ran it.

        Only the slots the batch names as failed (:class:`parjob.capture.WithFailures`)
        are looked at; a collected failure takes its slot in ``results``.
        """
        failed = results.failed if type(results) is WithFailures else None
        if not failed:
            return Settled([(batch.start, results)], [])
        collect = self.policy.on_error == "collect"
        worker = outcome[2] if len(outcome) > 2 else ""
        again: list[tuple[float, Batch]] = []
        holes: list[int] = []  # offsets that leave the results (skipped, or sent again)
        for offset in failed:
            value = results[offset]
            index = batch.start + offset
            task = _task(batch, offset)
            record = TaskError.of(value, 0)  # its exception is read only where needed
            self._failed_on(index, worker)
            when = self._decide(record, task, crash=False)
            if when is not None:
                again.append((when, self.batch(index, [task])))
                holes.append(offset)
            elif collect:
                results[offset] = record
            else:
                self._skip(record)
                holes.append(offset)
        return Settled(_runs_between(batch.start, results, holes), again)

    def lost(self, batch: Batch, error: BaseException, named: Exception) -> Settled:
        """The batch's worker was lost, or its results could not come back (``error`` is
        the engine's, ``named`` the core's error naming the batch)."""
        now = time.monotonic()
        spared = self.resent.get(batch.start, 0) < _SPARED_RESENDS
        if crashes.was_spared(error) and spared and batch.has_tasks:
            self.resent[batch.start] = self.resent.get(batch.start, 0) + 1
            return Settled([], [(now, self.batch(batch.start, batch.tasks))])
        if len(batch) > 1 and batch.has_tasks:
            return Settled([], self._split(batch, now))
        task = _task(batch, 0)
        name = function_name(batch.first_function)
        if isinstance(named, ResultSerializationError):  # the task's doing, not a crash
            named.__cause__ = error
            return self._one(batch, name, named, task, crash=False)
        how = crashes.how_it_died(error)
        described = crashes.describe_task(batch.start, name, task)
        crashed = WorkerCrashedError(
            f"{described}: the worker running it {how}" if how else f"{described}: {named}"
        )
        crashed.__cause__ = error
        crashed.worker = crashes.dead_worker(error)
        self._failed_on(batch.start, crashed.worker)
        return self._one(batch, name, crashed, task, crash=True)

    def late(self, batch: Batch, timeout: float) -> Settled:
        """The batch ran past the timeout (and was cancelled or left behind)."""
        if len(batch) > 1 and batch.has_tasks:
            return Settled([], self._split(batch, time.monotonic()))
        task = _task(batch, 0)
        name = function_name(batch.first_function)
        error = TaskTimeoutError(
            f"{crashes.describe_task(batch.start, name, task)} did not finish within "
            f"timeout={timeout}s"
        )
        return self._one(batch, name, error, task, crash=False)

    def finish(self) -> None:
        """End of the call: under ``"skip"``, one warning says what was left out."""
        first = self.first_skipped
        if first is None:
            return
        exc = first.exception
        warn_user(
            f"{self.skipped} task(s) failed and were left out of the results "
            f"(on_error='skip'); the first: task {first.index} ({first.function}): "
            f"{type(exc).__name__}: {exc}"
        )

    def avoided(self, batch: Batch) -> frozenset[str]:
        """The workers a batch of one task should not run on: where that task failed."""
        if len(batch) != 1 or not self.failed_on:
            return _NOWHERE
        return self.failed_on.get(batch.start, _NOWHERE)

    # -- internals -----------------------------------------------------------------------
    def _failed_on(self, index: int, worker: str | None) -> None:
        if worker and self.policy.retries:  # (only a retry has anything to avoid)
            self.failed_on[index] = self.failed_on.get(index, _NOWHERE) | {worker}

    def _split(self, batch: Batch, now: float) -> list[tuple[float, Batch]]:
        """Each task of ``batch`` alone, to find the one at fault (not counted as a retry)."""
        return [(now, self.batch(batch.start + k, [task])) for k, task in enumerate(batch.tasks)]

    def _one(
        self, batch: Batch, name: str, error: BaseException, task: Any, crash: bool
    ) -> Settled:
        record = TaskError(batch.start, name, error, "", 0)
        when = self._decide(record, task, crash)
        if when is not None:
            return Settled([], [(when, self.batch(batch.start, [task]))])
        if self.policy.on_error == "collect":
            return Settled([(batch.start, [record])], [])
        self._skip(record)
        return Settled([], [])

    def _decide(self, record: TaskError, task: Any, crash: bool) -> float | None:
        """When to run the task again, or None: ``on_error`` applies (raises under "raise").

        Sets the record's ``attempts``. Its exception is read only to match ``retry_on``,
        for observers, or to raise it: collecting a remote failure costs no unpickling.
        """
        policy = self.policy
        index = record.index
        counts = self.crashed if crash else self.failed
        counts[index] = count = counts.get(index, 0) + 1
        record.attempts = self.failed.get(index, 0) + self.crashed.get(index, 0)
        if crash:
            # a lost worker may always be retried: the node, not the code, may be at fault;
            # but not a task that killed every worker it ran on, again and again
            kills_workers = count >= CRASHES_IN_A_ROW and not self.failed.get(index)
            retry = count <= policy.retries and not kills_workers
        else:
            retry = count <= policy.retries and isinstance(record.exception, policy.retry_on)
        retry = retry and task is not None
        reported = record.exception if self.progress.watched else None  # for observers
        self.progress.task_failed(index, record.function, reported, record.attempts, retry)
        if retry:
            return time.monotonic() + policy.delay(count)
        if policy.on_error == "raise":
            raise record.exception
        return None

    def _skip(self, record: TaskError) -> None:
        self.skipped += 1
        if self.first_skipped is None:
            self.first_skipped = record


def _runs_between(start: int, results: list[Any], holes: list[int]) -> list[tuple[int, list[Any]]]:
    """``results`` without the slots at offsets ``holes``, as ``(input position, run)``."""
    if not holes:
        return [(start, results)]
    parts = []
    begin = 0
    for hole in [*holes, len(results)]:
        if hole > begin:
            parts.append((start + begin, results[begin:hole]))
        begin = hole + 1
    return parts


_NOWHERE: frozenset[str] = frozenset()


def _task(batch: Batch, offset: int) -> Any:
    """The batch's task at ``offset``, or None once the caller released the tasks."""
    return batch.tasks[offset] if batch.has_tasks else None
