"""One ``Parallel`` call: pull tasks, dispatch batches, gather results, clean up.

Everything a backend should not re-implement lives here: batching, the bound on work in
flight (``pre_dispatch``), ordered and unordered streaming, timeouts, re-raising a task's
own exception, naming a crashed worker's tasks, cancellation, and progress lines.
"""

from __future__ import annotations

import heapq
import math
import operator
import pickle
import queue
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future
from typing import Any

from parjob import relay
from parjob.backend import Backend
from parjob.batching import Batcher
from parjob.errors import (
    BackendError,
    ParallelTimeoutError,
    ResultSerializationError,
    SerializationError,
    TaskFailure,
    WorkerCrashedError,
    function_name,
)
from parjob.feed import Feed
from parjob.progress import Progress
from parjob.serialization import explain
from parjob.tasks import Batch, BatchResult, Task, paused_gc

#: tasks at least this long (measured) make the runner read the input ahead
_SLOW_TASK_SECONDS = 1e-4


def run_inline(tasks: Iterator[Task], progress: Progress) -> Iterator[Any]:
    """Run every task in the caller, one at a time: ``n_jobs=1`` and the sequential backend."""
    index = 0
    func: Any = None
    try:
        for func, args, kwargs in tasks:
            yield func(*args, **kwargs)
            index += 1
            progress.add(1)
    except GeneratorExit:
        raise
    except BaseException as exc:
        _name_task(exc, index, func)
        raise
    progress.finish()


def run_inline_list(tasks: Iterator[Task], progress: Progress) -> list[Any]:
    """``run_inline`` for ``return_as="list"`` without the generator: tiny tasks stay cheap."""
    if progress.verbose:
        return list(run_inline(tasks, progress))
    results: list[Any] = []
    append = results.append
    func: Any = None
    try:
        for func, args, kwargs in tasks:
            append(func(*args, **kwargs))
    except BaseException as exc:
        _name_task(exc, len(results), func)
        raise
    return results


def _name_task(exc: BaseException, index: int, func: Any) -> None:
    if func is not None and hasattr(exc, "add_note"):
        exc.add_note(f"parjob: raised by task {index} ({function_name(func)})")


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
                self._fill()
                if not self.inflight:
                    if self.leftovers or not self.exhausted:  # never: a bug, not a short result
                        raise RuntimeError("parjob: tasks left undispatched with none in flight")
                    break
                batch, results = self._next_finished()
                if not self.ordered:
                    yield batch.start, results
                    continue
                self.waiting[batch.start] = results
                while self.order and self.order[0] in self.waiting:
                    start = self.order.popleft()
                    yield start, self.waiting.pop(start)
            self.progress.finish()
        except BaseException:
            self.abort()
            raise

    def _fill(self) -> None:
        # The input makes a few containers per task. With the collector paused while they
        # are read, encoded and released, they are freed before it could scan them at all.
        # The batches of one fill (the first wave, the tail) go to the backend together.
        with paused_gc():
            waiting = len(self.waiting) if self.bounded else 0
            outbox: list[tuple[Batch, Any]] = []
            while (self.leftovers or not self.exhausted) and (
                self.limit is None
                or len(self.inflight) + len(outbox) + waiting < self.limit
                or self._in_tail()
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
            outbox.append(self._encoded(heapq.heappop(self.leftovers)[1]))
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
            batch = Batch(self.dispatched, piece, self.nested, budget)
            self.dispatched += len(piece)
            outbox.append(self._encoded(batch))
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

    def _send(self, outbox: list[tuple[Batch, Any]]) -> None:
        backend = self.backend
        futures = backend.submit_many([work for _, work in outbox])
        now = time.monotonic()
        for (batch, _), future in zip(outbox, futures, strict=True):
            if backend.serializes and batch.budget is None:
                batch.release()
            self.inflight[future] = (batch, now)
            future.add_done_callback(self.finished.put)

    def _next_finished(self) -> tuple[Batch, list[Any]]:
        future = self._wait()
        batch, _ = self.inflight.pop(future)
        try:
            outcome = future.result()
        except TaskFailure as failure:
            raise failure.reraise()  # noqa: B904 - reraise() sets the cause: the worker's traceback
        except BackendError:
            raise
        except CancelledError:
            raise WorkerCrashedError(
                f"the batch of {_describe(batch)} was cancelled by the backend"
            ) from None
        except Exception as exc:
            if self.backend.serializes and _is_pickling_error(exc):
                raise ResultSerializationError(
                    f"a result of {_describe(batch)} cannot be sent back from the worker: "
                    f"{_last_line(exc)}. Return something picklable, or run on threads "
                    "(prefer='threads')."
                ) from exc
            raise WorkerCrashedError(
                f"a worker failed while running {_describe(batch)}: {type(exc).__name__}: {exc}"
            ) from exc
        results, seconds = outcome[0], outcome[1]
        if len(outcome) > 2 and outcome[2]:  # printed and logged in the worker
            relay.replay(outcome[2])
        self.batcher.record(len(results), seconds)
        if len(results) != len(batch):
            self._hand_back(batch, len(results))
        if batch.budget is not None:
            batch.release()
        self.progress.add(len(results))
        return batch, results

    def _hand_back(self, batch: Batch, done: int) -> None:
        """Queue the tasks a budgeted batch stopped before, in batches of the timed size."""
        if batch.budget is None or not 0 < done < len(batch):
            raise WorkerCrashedError(
                f"the backend returned {done} results for the {len(batch)} tasks of "
                f"{_describe(batch)}"
            )
        rest = batch.tasks[done:]
        pieces = _split(rest, math.ceil(len(rest) / self.batcher.size))
        start = batch.start + done
        starts = []
        for piece in pieces:
            heapq.heappush(self.leftovers, (start, Batch(start, piece, self.nested)))
            starts.append(start)
            start += len(piece)
        if self.ordered:
            at = self.order.index(batch.start) + 1
            for leftover_start in reversed(starts):
                self.order.insert(at, leftover_start)

    def _wait(self) -> Future[BatchResult]:
        if self.timeout is None:
            return self.finished.get()
        while True:
            deadline, late = min(
                (
                    (started + self.timeout + self.batcher.expected_seconds(len(batch) - 1), batch)
                    for batch, started in self.inflight.values()
                ),
                key=operator.itemgetter(0),
            )
            try:
                return self.finished.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    raise ParallelTimeoutError(
                        f"{_describe(late)} did not finish within timeout={self.timeout}s; "
                        "the remaining tasks were cancelled"
                    ) from None

    def abort(self) -> None:
        """Cancel what has not started and stop what is running, as far as the backend can."""
        for future in self.inflight:
            future.cancel()
        self.inflight.clear()
        self.leftovers.clear()
        self.backend.abort()


def _split(chunk: list[Task], parts: int) -> list[list[Task]]:
    """``chunk`` cut into at most ``parts`` runs of nearly equal length (none empty)."""
    parts = max(min(parts, len(chunk)), 1)
    step, extra = divmod(len(chunk), parts)
    bounds = [k * step + min(k, extra) for k in range(parts + 1)]
    return [chunk[bounds[k] : bounds[k + 1]] for k in range(parts)]


def _is_pickling_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a pickler's complaint. Tasks are pickled (and checked) in the
    caller before dispatch, so one coming back from a batch is about its results."""
    kinds = (pickle.PickleError, TypeError, AttributeError)
    return isinstance(exc, kinds) and "pickle" in str(exc).lower()


def _last_line(exc: BaseException) -> str:
    """``exc`` in one line: engines put whole tracebacks in their messages."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    name = type(exc).__name__
    return last if last.startswith(name) else f"{name}: {last}"


def _describe(batch: Batch) -> str:
    first = batch.first_function
    if len(batch) == 1:
        return f"task {batch.start} ({function_name(first)})"
    return f"tasks {batch.start}-{batch.start + len(batch) - 1} ({function_name(first)}, ...)"
