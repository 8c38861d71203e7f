"""What one ``Parallel`` call did (``Parallel.last_run``): the numbers to tune it by.

Tasks, batches and the batch sizes chosen, where each worker's time went (starting,
working, waiting), elapsed time, failures and retries, the slowest tasks with a short
view of their arguments, and when each batch ran where (the timeline). The
:class:`Recorder` collects them as batches finish, at a cost of a few operations a batch;
memory stays small: at most ``MAX_SPANS`` batches for the timeline, ``SLOWEST`` tasks.
"""

from __future__ import annotations

import dataclasses
import heapq
import reprlib
from typing import Any

from parjob.errors import function_name

#: batches kept for the timeline (more are counted in ``spans_dropped``)
MAX_SPANS = 10_000
#: slowest tasks kept
SLOWEST = 5
#: batches shorter than this show only their function's name among the slowest
_VIEWED_SECONDS = 1e-3

_repr = reprlib.Repr()
_repr.maxstring = 24
_repr.maxother = 24
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 3
_repr.maxlevel = 2


@dataclasses.dataclass(frozen=True)
class BatchSpan:
    """One batch on the timeline: ``began`` is in seconds after the call began."""

    worker: str
    began: float
    seconds: float
    start: int
    tasks: int


@dataclasses.dataclass(frozen=True)
class WorkerTime:
    """Where one worker's time went during the call.

    ``starting``: from the call's start to its first batch (pool start, first dispatch);
    ``working``: running batches; ``waiting``: the rest of the call (idle between
    batches, waiting for dispatch, or done before the others).
    """

    worker: str
    batches: int
    tasks: int
    starting: float
    working: float
    waiting: float


@dataclasses.dataclass(frozen=True)
class SlowTask:
    """A slow task: its input position, time and a short view of the call.

    When it ran in a batch of several tasks, ``seconds`` is the batch's average per task
    and ``tasks`` the batch's size (``index`` is then the batch's first task).
    """

    index: int
    seconds: float
    tasks: int
    call: str


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """The summary of one ``Parallel`` call; ``str()`` gives a readable report."""

    backend: str
    n_jobs: int
    tasks: int
    batches: int
    #: batch size -> how many batches had it
    batch_sizes: dict[int, int]
    elapsed: float
    workers: dict[str, WorkerTime]
    failures: int
    retries: int
    slowest: list[SlowTask]
    #: None when the call finished; else what ended it
    error: str | None
    spans: list[BatchSpan]
    spans_dropped: int
    #: wall-clock time (``time.time()``) the call began
    started: float

    @property
    def busy(self) -> float:
        """The fraction of ``n_jobs`` workers' time spent running tasks (0 to 1)."""
        if self.elapsed <= 0 or self.n_jobs <= 0:
            return 0.0
        working = sum(w.working for w in self.workers.values())
        return min(working / (self.elapsed * self.n_jobs), 1.0)

    def plot_timeline(self, path: Any = None, ax: Any = None) -> Any:
        """Draw when each batch ran on which worker (needs matplotlib).

        Saves the picture to ``path`` when given (and returns ``path``), else returns the
        matplotlib Figure (a notebook shows it as the cell's value); ``ax`` draws on
        existing axes instead.
        """
        from parjob.timeline import plot

        return plot(self, path=path, ax=ax)

    def timeline_text(self, width: int = 60) -> str:
        """The timeline as text: a row per worker, ``#`` where it ran a batch."""
        from parjob.timeline import as_text

        return as_text(self, width)

    def __str__(self) -> str:
        from parjob.timeline import report

        return report(self)


def short_call(task: Any) -> str:
    """``f(1, 'abc', key=...)`` in at most about 80 characters."""
    try:
        function, args, kwargs = task
        parts = [_repr.repr(arg) for arg in args[:4]]
        if len(args) > 4:
            parts.append("...")
        parts += [f"{key}={_repr.repr(value)}" for key, value in list(kwargs.items())[:3]]
        text = f"{function_name(function)}({', '.join(parts)})"
    except Exception:  # a task whose repr fails must not break the call
        return "?"
    return text if len(text) <= 80 else text[:77] + "..."


class Recorder:
    """Collects a call's batches, failures and slowest tasks; ``summary()`` at the end."""

    def __init__(self, backend: str, n_jobs: int, started: float) -> None:
        self.backend = backend
        self.n_jobs = n_jobs
        self.started = started
        #: each batch as ``(worker, began, seconds, start, tasks)``: the first ``MAX_SPANS``
        #: (the timeline; the totals are added up from them when asked for)
        self.spans: list[tuple[str, float, float, int, int]] = []
        self.spans_dropped = 0
        #: the totals, kept up to date batch by batch once spans are dropped
        self._totals: _Totals | None = None
        self.failures = 0
        self.retries = 0
        self._slowest: list[tuple[float, int, int, int, Any]] = []
        self._offered = 0

    def batch(
        self,
        start: int,
        tasks: int,
        seconds: float,
        worker: str,
        began: float,
        first: Any = None,
    ) -> None:
        """A batch of ``tasks`` ran ``seconds`` on ``worker`` from ``began`` (wall clock);
        ``first`` (its first task) enters the slowest list when the batch was slow."""
        if first is not None and tasks:
            each = seconds / tasks
            if len(self._slowest) < SLOWEST or each > self._slowest[0][0]:
                self.slow(start, each, tasks, first)
        if len(self.spans) < MAX_SPANS:
            self.spans.append((worker, began, seconds, start, tasks))
            return
        self._totals = self.totals()  # from here on, added up as batches come
        self._totals.add(worker, began, seconds, tasks)
        self.spans_dropped += 1

    @property
    def batches(self) -> int:
        """Batches recorded so far."""
        return len(self.spans) + self.spans_dropped

    def totals(self) -> _Totals:
        """Tasks, batch sizes and each worker's time, over every batch recorded so far."""
        if self._totals is not None:
            return self._totals
        totals = _Totals()
        for worker, began, seconds, _, tasks in list(self.spans):
            totals.add(worker, began, seconds, tasks)
        return totals

    def is_slow(self, seconds: float) -> bool:
        """Whether a task of ``seconds`` would be among the slowest kept."""
        return len(self._slowest) < SLOWEST or seconds > self._slowest[0][0]

    def slow(self, index: int, seconds: float, tasks: int, task: Any) -> None:
        """Offer a task (or a batch's average per task) to the slowest list. ``task`` is
        the (first) task, or already the text to show; it is kept (only the slowest few
        are) until ``settle`` turns it into text at the end of the call."""
        if len(self._slowest) >= SLOWEST and seconds <= self._slowest[0][0]:
            return  # not slow enough (as is_slow says, without a call per batch)
        self._offered += 1
        entry = (seconds, self._offered, index, tasks, task)
        if len(self._slowest) < SLOWEST:
            heapq.heappush(self._slowest, entry)
        else:
            heapq.heapreplace(self._slowest, entry)

    def settle(self) -> None:
        """The call ended: views of the slowest tasks replace the tasks themselves, so
        ``last_run`` keeps no argument alive. Batches under ``_VIEWED_SECONDS`` show only
        their function's name (a call of tiny tasks pays nothing for views)."""
        slowest = self._slowest
        for at, (seconds, order, index, tasks, task) in enumerate(slowest):
            slowest[at] = (seconds, order, index, tasks, _view(task, tasks, seconds * tasks))

    def failed(self, retrying: bool) -> None:
        if retrying:
            self.retries += 1
        else:
            self.failures += 1

    def summary(self, elapsed: float, error: str | None) -> RunSummary:
        totals = self.totals()
        workers = {}
        for worker, (first, working, batches, tasks) in totals.workers.items():
            starting = min(max(first - self.started, 0.0), elapsed) if first else 0.0
            waiting = max(elapsed - starting - working, 0.0)
            workers[worker] = WorkerTime(
                worker, int(batches), int(tasks), starting, working, waiting
            )
        slowest = [
            SlowTask(index, seconds, tasks, _view(task, tasks))
            for seconds, _, index, tasks, task in sorted(self._slowest, reverse=True)
        ]
        spans = [
            BatchSpan(worker, max(began - self.started, 0.0) if began else 0.0, s, start, n)
            for worker, began, s, start, n in self.spans
        ]
        return RunSummary(
            backend=self.backend,
            n_jobs=self.n_jobs,
            tasks=totals.tasks,
            batches=self.batches,
            batch_sizes=dict(sorted(totals.sizes.items())),
            elapsed=elapsed,
            workers=workers,
            failures=self.failures,
            retries=self.retries,
            slowest=slowest,
            error=error,
            spans=spans,
            spans_dropped=self.spans_dropped,
            started=self.started,
        )


class _Totals:
    """Tasks, batch sizes and each worker's time, added up batch by batch."""

    __slots__ = ("sizes", "tasks", "workers")

    def __init__(self) -> None:
        self.tasks = 0
        self.sizes: dict[int, int] = {}
        #: worker -> [first began (wall), working seconds, batches, tasks]
        self.workers: dict[str, list[float]] = {}

    def add(self, worker: str, began: float, seconds: float, tasks: int) -> None:
        self.tasks += tasks
        self.sizes[tasks] = self.sizes.get(tasks, 0) + 1
        held = self.workers.get(worker)
        if held is None:
            self.workers[worker] = [began, seconds, 1, tasks]
        else:
            held[0] = min(held[0], began)
            held[1] += seconds
            held[2] += 1
            held[3] += tasks


def _view(task: Any, tasks: int, seconds: float = _VIEWED_SECONDS) -> str:
    if isinstance(task, str):
        return task
    if task is None:
        call = "?"
    elif seconds < _VIEWED_SECONDS:
        call = f"{function_name(task[0])}(...)"
    else:
        call = short_call(task)
    return call + (f" and {tasks - 1} more" if tasks > 1 else "")
