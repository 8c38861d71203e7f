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
from parjob.errors import (
    ResultSerializationError,
    TaskError,
    TaskFailure,
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
        batch's ``outcome`` (a ``BatchResult``) says which worker ran it."""
        if TaskFailure not in set(map(type, results)):
            return Settled([(batch.start, results)], [])
        worker = outcome[2] if len(outcome) > 2 else ""
        parts: list[tuple[int, list[Any]]] = []
        again: list[tuple[float, Batch]] = []
        run_start, run = batch.start, []
        for offset, value in enumerate(results):
            if type(value) is not TaskFailure:
                run.append(value)
                continue
            index = batch.start + offset
            task = _task(batch, offset)
            error = value.reraise()
            self._failed_on(index, worker)
            when = self._decide(index, value.function, error, value.text, task, crash=False)
            if when is None:
                if self.policy.on_error == "collect":
                    run.append(self._record(index, value.function, error, value.text))
                else:
                    self._skip(index, value.function, error, value.text)
                continue
            if run:
                parts.append((run_start, run))
            run_start, run = index + 1, []
            again.append((when, self.batch(index, [task])))
        if run:
            parts.append((run_start, run))
        return Settled(parts, again)

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
        when = self._decide(batch.start, name, error, "", task, crash)
        if when is not None:
            return Settled([], [(when, self.batch(batch.start, [task]))])
        if self.policy.on_error == "collect":
            return Settled([(batch.start, [self._record(batch.start, name, error, "")])], [])
        self._skip(batch.start, name, error, "")
        return Settled([], [])

    def _decide(
        self, index: int, name: str, error: BaseException, text: str, task: Any, crash: bool
    ) -> float | None:
        """When to run the task again, or None: ``on_error`` applies (raises under "raise")."""
        policy = self.policy
        counts = self.crashed if crash else self.failed
        counts[index] = count = counts.get(index, 0) + 1
        if crash:
            # a lost worker may always be retried: the node, not the code, may be at fault;
            # but not a task that killed every worker it ran on, again and again
            kills_workers = count >= CRASHES_IN_A_ROW and not self.failed.get(index)
            retry = count <= policy.retries and not kills_workers
        else:
            retry = count <= policy.retries and isinstance(error, policy.retry_on)
        retry = retry and task is not None
        self.progress.task_failed(index, name, error, self._runs(index), retry)
        if retry:
            return time.monotonic() + policy.delay(count)
        if policy.on_error == "raise":
            raise error
        return None

    def _runs(self, index: int) -> int:
        return self.failed.get(index, 0) + self.crashed.get(index, 0)

    def _record(self, index: int, name: str, error: BaseException, text: str) -> TaskError:
        return TaskError(index, name, error, text, self._runs(index))

    def _skip(self, index: int, name: str, error: BaseException, text: str) -> None:
        self.skipped += 1
        if self.first_skipped is None:
            self.first_skipped = self._record(index, name, error, text)


_NOWHERE: frozenset[str] = frozenset()


def _task(batch: Batch, offset: int) -> Any:
    """The batch's task at ``offset``, or None once the caller released the tasks."""
    return batch.tasks[offset] if batch.has_tasks else None
