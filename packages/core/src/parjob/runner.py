"""One ``Parallel`` call: pull tasks, dispatch batches, gather results, clean up.

Everything a backend should not re-implement lives here: batching, the bound on work in
flight (``pre_dispatch``), ordered and unordered streaming, timeouts, re-raising a task's
own exception, naming a crashed worker's tasks, cancellation, and progress lines.
"""

from __future__ import annotations

import heapq
import math
import operator
import queue
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future
from typing import Any

from parjob import relay
from parjob.backend import Backend, Refused
from parjob.batching import Batcher
from parjob.errors import (
    BackendError,
    ParallelTimeoutError,
    SerializationError,
    TaskFailure,
    WorkerCrashedError,
)
from parjob.feed import Feed
from parjob.outcomes import Outcomes, Settled
from parjob.policy import Policy
from parjob.progress import Progress
from parjob.serialization import explain
from parjob.tasks import Batch, BatchResult, Task, paused_gc
from parjob.warn import warn_user
from parjob.wording import batch_error, describe_batch

#: tasks at least this long (measured) make the runner read the input ahead
_SLOW_TASK_SECONDS = 1e-4
_second = operator.itemgetter(1)


class Run:
    """Dispatches batches of ``tasks`` to ``backend`` and yields their results."""

    def __init__(
        self,
        backend: Backend,
        n_jobs: int,
        tasks: Iterator[Task],
        batcher: Batcher,
        limit: int | None,
        timeout: float | None,
        progress: Progress,
        nested: tuple[str, int],
        ordered: bool,
        bounded: bool,
        lookahead: bool = False,
        policy: Policy | None = None,
    ) -> None:
        self.backend = backend
        self.feed = Feed(tasks)
        self.batcher = batcher
        # with a timeout, only as many batches in flight as run at once, so a batch's
        # clock (started at dispatch) starts about when the batch starts running
        self.limit = backend.running_at_once(n_jobs) if timeout is not None else limit
        self.timeout = timeout
        self.progress = progress
        self.nested = nested
        #: yield in input order (else as batches finish)
        self.ordered = ordered
        #: count results waiting to be yielded against the limit too, so a slowly consumed
        #: generator holds a bounded amount of results
        self.bounded = bounded
        self.n_jobs = n_jobs
        #: read an input of unknown length ahead of dispatch by about what is in flight,
        #: so its end is seen coming and the last batches are sized from it (_in_tail)
        self.lookahead = lookahead
        self.dispatched = 0
        self.exhausted = False
        self.inflight: dict[Future[BatchResult], tuple[Batch, float]] = {}
        self.finished: queue.SimpleQueue[Future[BatchResult]] = queue.SimpleQueue()
        self.waiting: dict[int, list[Any]] = {}
        self.order: deque[int] = deque()
        #: tasks that a budgeted batch handed back unrun, ready to be sent again: a heap by
        #: input position, so the earliest go first (in ordered mode the next result to
        #: yield is always running or next in line, and waiting results cannot fill the
        #: pre_dispatch bound while it is not)
        self.leftovers: list[tuple[int, Batch]] = []
        #: the failure policy at work, when it is not raise-at-once (see parjob.outcomes)
        policed = policy is not None and not policy.is_default
        self.outcomes = Outcomes(policy, progress, nested) if policed else None  # type: ignore[arg-type]
        #: retries waiting for their delay: a heap of (when, input position, batch)
        self.later: list[tuple[float, int, Batch]] = []
        #: results settled without a batch coming back (collected timeouts)
        self.ready: list[tuple[int, list[Any]]] = []
        #: late batches left running (not stoppable): they hold a worker until they end
        self.zombies: set[Future[BatchResult]] = set()
        #: a late task could not be interrupted (said once per call)
        self.left_behind = False

    # -- the loop --------------------------------------------------------------------
    def start(self) -> None:
        """Dispatch the first batches (pickling problems surface here, before any result)."""
        try:
            self._fill()
        except BaseException:
            self.abort()
            raise

    def batches(self) -> Iterator[tuple[int, list[Any]]]:
        """Yield ``(input position of the first task, results)`` for each batch."""
        try:
            while True:
                if self.later or self.leftovers or not self.exhausted:  # else all went out
                    self._fill()
                undispatched = self.leftovers or not self.exhausted
                if not self.inflight and not (self.zombies and undispatched):
                    if self.later:  # only retries waiting for their delay
                        time.sleep(max(self.later[0][0] - time.monotonic(), 0.0))
                        continue
                    if self.leftovers or not self.exhausted:  # never: a bug, not a short result
                        raise RuntimeError("parjob: tasks left undispatched with none in flight")
                    break
                finished = self._next_finished()
                if finished is None:  # a retry's delay is over: dispatch it
                    continue
                if not self.ordered:
                    yield from finished
                    continue
                for start, results in finished:
                    self.waiting[start] = results
                while self.order and self.order[0] in self.waiting:
                    start = self.order.popleft()
                    yield start, self.waiting.pop(start)
            if self.outcomes is not None:
                self.outcomes.finish()
                if self.left_behind:  # stop waiting for what still runs (abort, not stop)
                    self.backend.abort()
            self.progress.finish()
        except BaseException:
            self.abort()
            raise

    def _fill(self) -> None:
        # The input makes a few containers per task. With the collector paused while they
        # are read, encoded and released, they are freed before it could scan them at all.
        # The batches of one fill (the first wave, the tail) go to the backend together.
        if self.later and self.later[0][0] <= time.monotonic():
            self._retries_due()
        if self.exhausted and not self.leftovers:
            return  # everything was dispatched
        with paused_gc():
            waiting = len(self.waiting) if self.bounded else 0
            outbox: list[tuple[Batch, Any]] = []
            while (self.leftovers or not self.exhausted) and (
                self.limit is None
                or len(self.inflight) + len(outbox) + waiting + len(self.zombies) < self.limit
                or self._in_tail()
                # results held back behind a retry may fill the bound: let it go
                or bool(self.leftovers and not self.inflight and not outbox)
            ):
                self._dispatch_next(outbox)
            if outbox:
                self._send(outbox)

    def _window(self) -> int:
        """About how many tasks ``pre_dispatch`` keeps in flight at the current batch size."""
        return (self.limit or 2 * self.n_jobs) * self.batcher.size

    def _in_tail(self) -> bool:
        """Whether the rest of the input is so short that it all goes out now.

        Sized from the end (each batch a fair share of what is left, so they shrink), the
        last batches then wait in the backend's queue, and workers take them as they free
        up: no round trip through the caller between them, and no worker left holding a
        long batch while the others idle. Not when results are held back for a slow
        consumer, nor with a timeout (whose clock starts when a batch is dispatched).
        """
        batcher = self.batcher
        if self.bounded or self.timeout is not None or batcher.fixed is not None:
            return False
        if batcher.total is None or batcher.seconds_per_task is None:
            return False
        return batcher.total - self.dispatched <= 2 * self._window()

    def _dispatch_next(self, outbox: list[tuple[Batch, Any]]) -> None:
        if self.leftovers:
            leftover = self._encoded(heapq.heappop(self.leftovers)[1])
            if self.outcomes is None:
                outbox.append(leftover)
            else:  # a retry or a split batch goes alone (a backend that runs the batches sent
                # together as one job fails them together), away from where its task failed
                self._send([leftover], self.outcomes.avoided(leftover[0]))
            return
        feed = self.feed
        if self.lookahead and feed.total is None:
            wanted = self.batcher.first_wave if self.dispatched == 0 else 0
            if not wanted and self._tasks_are_slow():
                wanted = self._window()
            if wanted:
                feed.read_ahead(wanted)
                if feed.total is not None:
                    self.batcher.learn_total(feed.total)  # the end is in sight
        size = self.batcher.next_size(self.dispatched)
        chunk = feed.take(size)
        if len(chunk) < size or feed.empty:
            self.exhausted = True
        pieces = [chunk] if chunk else []
        if self.exhausted and chunk and self.batcher.fixed is None and self.batcher.total is None:
            # the end came unannounced: share the last chunk among the workers, so none
            # idles at the end
            pieces = _split(chunk, self.n_jobs)
        budget = self.batcher.budget
        for piece in pieces:
            if self.outcomes is None:
                batch = Batch(self.dispatched, piece, self.nested, budget)
            else:
                batch = self.outcomes.batch(self.dispatched, piece, budget)
            self.dispatched += len(piece)
            outbox.append(self._encoded(batch) if self.backend.serializes else (batch, batch))
            if self.ordered:
                self.order.append(batch.start)
        if self.exhausted:
            self.progress.total = self.dispatched

    def _tasks_are_slow(self) -> bool:
        # Reading ahead pays when tasks take far longer than making them. For tiny tasks
        # it would only keep more of them alive (and scanned by the garbage collector),
        # and their batches are short anyway.
        estimate = self.batcher.seconds_per_task
        return estimate is not None and estimate >= _SLOW_TASK_SECONDS

    def _encoded(self, batch: Batch) -> tuple[Batch, Any]:
        """``batch`` and what the backend is sent for it (pickled when it ``serializes``)."""
        if not self.backend.serializes:
            return batch, batch
        try:
            return batch, self.backend.encode(batch)
        except (SerializationError, BackendError):
            raise
        except Exception as exc:
            raise explain(batch, exc) from exc

    def _send(self, outbox: list[tuple[Batch, Any]], avoid: frozenset[str] = frozenset()) -> None:
        # What does not need the futures is done before the batches go: the caller then
        # waits sooner once they are out, and a thread worker finds the GIL free sooner.
        backend = self.backend
        now = time.monotonic()
        sent = self.progress.sent
        for batch, _ in outbox:
            sent(batch)
        futures = (
            [backend.submit_avoiding(outbox[0][1], avoid)]
            if avoid
            else backend.submit_many(list(map(_second, outbox)))
        )
        release = backend.serializes and self.outcomes is None
        inflight, finished = self.inflight, self.finished.put
        refused = None
        for (batch, _), future in zip(outbox, futures, strict=True):
            if release and batch.budget is None:
                batch.release()
            inflight[future] = (batch, now)
            future.add_done_callback(finished)
            if refused is None and isinstance(future, Refused):
                refused = future
        if refused is not None and self.outcomes is None:
            raise refused.reason  # no failure policy: a refused batch fails the call now

    def _next_finished(self) -> list[tuple[int, list[Any]]] | None:
        """The next finished batch's results, as ``(input position, results)`` runs; None
        when there is nothing to hand on yet (a retry is due, a late task was dealt with)."""
        if self.timeout is None and not self.later:  # (the usual case, without _wait)
            future: Future[BatchResult] | None = self.finished.get()
        else:
            future = self._wait()
        if future is None:
            ready, self.ready = self.ready, []
            return ready or None
        entry = self.inflight.pop(future, None)
        if entry is None:  # a late batch that was left behind, finishing after all
            self.zombies.discard(future)
            return None
        batch = entry[0]
        try:
            outcome = future.result()
        except TaskFailure as failure:
            raise failure.reraise()  # noqa: B904 - reraise() sets the cause: the worker's traceback
        except BackendError:
            raise
        except Exception as exc:  # the worker or the way back failed, not a task
            error = batch_error(batch, exc, self.backend.serializes)
            if self.outcomes is not None:
                return self._settled(batch, self.outcomes.lost(batch, exc, error))
            raise error from (None if isinstance(exc, CancelledError) else exc)
        results, seconds = outcome[0], outcome[1]
        if len(outcome) > 4 and outcome[4]:  # printed and logged in the worker
            relay.replay(outcome[4])
        self.batcher.record(len(results), seconds)
        if len(results) != batch.size:
            self._hand_back(batch, len(results))
        if self.outcomes is not None:
            parts = self._settled(batch, self.outcomes.settle(batch, results, outcome), outcome)
            batch.release()
            return parts
        if batch.budget is not None:
            batch.release()
        self.progress.add(len(results), outcome, batch)
        return [(batch.start, results)]

    def _settled(
        self, batch: Batch, settled: Settled, outcome: Any = None
    ) -> list[tuple[int, list[Any]]]:
        """Queue the retries of a batch the failure policy went through; its results."""
        for when, again in settled.again:
            heapq.heappush(self.later, (when, again.start, again))
        if self.ordered:  # the batch's place in the order goes to its parts and retries
            at = self.order.index(batch.start)
            del self.order[at]
            starts = sorted(
                [start for start, _ in settled.parts] + [b.start for _, b in settled.again]
            )
            for start in reversed(starts):
                self.order.insert(at, start)
        self.progress.add(sum(len(results) for _, results in settled.parts), outcome, batch)
        return settled.parts

    def _retries_due(self) -> None:
        """Move the retries whose delay is over to the batches ready to send."""
        now = time.monotonic()
        while self.later and self.later[0][0] <= now:
            _, start, batch = heapq.heappop(self.later)
            heapq.heappush(self.leftovers, (start, batch))

    def _hand_back(self, batch: Batch, done: int) -> None:
        """Queue the tasks a budgeted batch stopped before, in batches of the timed size."""
        if batch.budget is None or not 0 < done < len(batch):
            raise WorkerCrashedError(
                f"the backend returned {done} results for the {len(batch)} tasks of "
                f"{describe_batch(batch)}"
            )
        rest = batch.tasks[done:]
        pieces = _split(rest, math.ceil(len(rest) / self.batcher.size))
        start = batch.start + done
        starts = []
        for piece in pieces:
            if self.outcomes is None:
                leftover = Batch(start, piece, self.nested)
            else:
                leftover = self.outcomes.batch(start, piece)
            heapq.heappush(self.leftovers, (start, leftover))
            starts.append(start)
            start += len(piece)
        if self.ordered:
            at = self.order.index(batch.start) + 1
            for leftover_start in reversed(starts):
                self.order.insert(at, leftover_start)

    def _wait(self) -> Future[BatchResult] | None:
        """The next finished batch's future, with a timeout or retries waiting: None when a
        retry's delay ran out first, or a late batch was settled under the failure policy."""
        while True:
            wait: float | None = None
            late: Batch | None = None
            now = time.monotonic()
            if self.timeout is not None and self.inflight:
                deadline, late = min(
                    (
                        (started + self.timeout + self.batcher.expected_seconds(len(b) - 1), b)
                        for b, started in self.inflight.values()
                    ),
                    key=operator.itemgetter(0),
                )
                wait = max(deadline - now, 0.0)
            if self.later and (wait is None or self.later[0][0] - now < wait):
                wait, late = max(self.later[0][0] - now, 0.0), None
            try:
                return self.finished.get(timeout=wait)
            except queue.Empty:
                if late is None:  # a retry is due
                    return None
                if time.monotonic() < deadline:
                    continue
                if self.outcomes is not None:
                    self._late(late)
                    return None
                raise ParallelTimeoutError(
                    f"{describe_batch(late)} did not finish within timeout={self.timeout}s; "
                    "the remaining tasks were cancelled"
                ) from None

    def _late(self, batch: Batch) -> None:
        """A late batch under the policy: stopped where it can be (else left, said once)."""
        future = next(f for f, (b, _) in self.inflight.items() if b is batch)
        del self.inflight[future]
        stopped = self.backend.cancel(future)
        if not stopped:
            self.zombies.add(future)
        if not stopped and not self.left_behind:
            self.left_behind = True
            warn_user(
                f"{describe_batch(batch)} ran past timeout={self.timeout}s and goes on running in "
                f"the background: the {self.backend.name!r} backend cannot interrupt it "
                "(the call does not wait for it)"
            )
        assert self.outcomes is not None and self.timeout is not None
        self.ready += self._settled(batch, self.outcomes.late(batch, self.timeout))

    def abort(self) -> None:
        """Cancel what has not started and stop what is running, as far as the backend can."""
        for future in self.inflight:
            future.cancel()
        self.inflight.clear()
        self.leftovers.clear()
        self.later.clear()
        self.backend.abort()


def _split(chunk: list[Task], parts: int) -> list[list[Task]]:
    """``chunk`` cut into at most ``parts`` runs of nearly equal length (none empty)."""
    parts = max(min(parts, len(chunk)), 1)
    step, extra = divmod(len(chunk), parts)
    bounds = [k * step + min(k, extra) for k in range(parts + 1)]
    return [chunk[bounds[k] : bounds[k + 1]] for k in range(parts)]
