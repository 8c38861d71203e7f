"""The call's observer hub: the runner reports here, observers hear of it from here.

One :class:`Progress` per ``Parallel`` call. The runner tells it when a batch finished
(``add``), a task ran inline (``ran``), a task failed (``task_failed``) and the call
finished (``finish``); ``Parallel`` tells it when the call ended otherwise (``close``).
It keeps the numbers of ``Parallel.last_run`` (``parjob.summary.Recorder``) and notifies
the call's observers: the ``verbose`` lines (``parjob.verbose``), the ``progress=`` bar
(``parjob.bars``) and the plugins' lifecycle hooks (``parjob.observe``). With none of
them, a batch costs a few additions and a task run inline nothing but its count.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

from parjob import config
from parjob.bars import Bar, make_bar
from parjob.errors import function_name
from parjob.observe import BatchInfo, CallInfo, Observer, hook_relay, next_call_id
from parjob.summary import Recorder, RunSummary
from parjob.verbose import VerboseLines, format_seconds, write_line
from parjob.warn import warn_user
from parjob.workerid import worker_id

__all__ = ["Progress", "format_seconds", "write_line"]

#: tasks run inline are reported to observers in groups, at most this often (one by one
#: when they are handed out one by one, to a generator's consumer)
INLINE_REPORT_SECONDS = 0.05


class Progress:
    """Counts finished tasks for one call and tells its observers.

    ``write`` receives each ``verbose`` message without its prefix (``Parallel._print``).
    ``bar`` is the ``progress=`` setting. ``inline``: tasks run in the caller; plugins are
    then not loaded just to look for observers (see ``parjob.observe.hook_relay``).
    """

    def __init__(
        self,
        verbose: int,
        n_jobs: int,
        known_total: int | None = None,
        write: Callable[[str], None] | None = None,
        *,
        backend: str = "",
        bar: Any = False,
        return_as: str = "list",
        inline: bool = False,
    ) -> None:
        self.started = time.monotonic()
        self.started_at = time.time()
        self._perf0 = time.perf_counter()
        self.verbose = verbose
        self.done = 0
        self._total = known_total
        self.recorder = Recorder(backend, n_jobs, self.started_at)
        self.lines = (
            VerboseLines(verbose, n_jobs, known_total, write, self.started) if verbose else None
        )
        observers: list[Observer] = [self.lines] if self.lines is not None else []
        shown = make_bar(bar, known_total, backend) if bar is not False else None
        if shown is not None:
            observers.append(shown)
        relay = hook_relay(load=not inline)
        if relay is not None:
            observers.append(relay)
        self.observers = observers
        #: some observer listens: batches are described and inline tasks timed for it
        self.watched = bool(observers)
        self.call: CallInfo | None = None
        if observers:
            self.call = CallInfo(
                next_call_id(),
                backend,
                n_jobs,
                known_total,
                return_as,
                config.nesting_level(),
                self.started_at,
            )
        #: called with this hub when the call ends (``Parallel`` keeps it for ``last_run``)
        self.on_end: Callable[[Progress], None] | None = None
        self._ended: float | None = None
        self._error: str | None = None
        self._summary: RunSummary | None = None
        #: the first task of each batch in flight, for the slowest tasks' view
        self._held: dict[int, Any] = {}
        # tasks run inline: reported in groups (``ran_until``), when something watches
        self._report_every = INLINE_REPORT_SECONDS if return_as == "list" else 0.0
        self._inline = inline
        self._inline_done = 0
        self._inline_clock = self._perf0
        #: the inline task count at which to report next
        self.next_report: float = 1 if self.watched else math.inf

    # -- what the runner reports ---------------------------------------------------------
    def begin(self) -> None:
        """The call starts (observers hear ``started``)."""
        if self.call is not None:
            self._notify("started", self.call)

    def say(self, text: str) -> None:
        """A ``verbose`` message."""
        if self.lines is not None:
            self.lines.say(text)

    @property
    def total(self) -> int | None:
        """The number of tasks, once known (the input's length, or when it ran out)."""
        return self._total

    @total.setter
    def total(self, total: int | None) -> None:
        if total == self._total or total is None:
            return
        self._total = total
        if self.call is not None:
            self._notify("total_known", total)

    def sent(self, batch: Any) -> None:
        """``batch`` is being dispatched: keep its first task until it is back, for the
        slowest tasks' view (the runner releases a batch's tasks once they are sent)."""
        tasks = batch.tasks
        if tasks:
            self._held[batch.start] = tasks[0]

    def add(self, tasks: int, outcome: Any = None, batch: Any = None) -> None:
        """A batch finished with ``tasks`` results; ``outcome`` is its ``BatchResult``."""
        self.done += tasks
        if outcome is None or batch is None:
            if self.call is not None:
                self._notify(
                    "batch", self.call, BatchInfo(0, tasks, 0.0, "", 0.0, self.done, self._total)
                )
            return
        start = batch.start
        seconds = outcome[1]
        worker, began = (outcome[2], outcome[3]) if len(outcome) > 3 else ("", 0.0)
        first = self._held.pop(start, None)
        if first is None:  # not sent through ``sent``: name its function at least
            first = (batch.first_function, (), {})
        self.recorder.batch(start, tasks, seconds, worker, began, first)
        if self.call is not None:
            info = BatchInfo(start, tasks, seconds, worker, began, self.done, self._total)
            self._notify("batch", self.call, info)

    def ran_until(self, index: int, task: Any, began: float | None = None) -> float:
        """Tasks run inline up to ``index`` (exclusive) finished, the last being ``task``
        (run from ``began``, a ``time.perf_counter()``, when given). Returns the count at
        which to report next: groups last about ``INLINE_REPORT_SECONDS`` (one task each
        for a generator's consumer, which gets results one by one)."""
        now = time.perf_counter()
        first = self._inline_done
        tasks = index - first
        if tasks <= 0:
            return self.next_report
        seconds = now - began if tasks == 1 and began is not None else now - self._inline_clock
        group_began = now - seconds
        self._inline_done = index
        self._inline_clock = now
        self.done = index
        each = seconds / tasks
        if self.recorder.is_slow(each):
            self.recorder.slow(first, each, tasks, task if tasks == 1 else _group(task, tasks))
        worker = worker_id()
        began_at = self.started_at + (group_began - self._perf0)
        self.recorder.batch(first, tasks, seconds, worker, began_at)
        if self.call is not None:
            info = BatchInfo(first, tasks, seconds, worker, began_at, index, self._total)
            self._notify("batch", self.call, info)
        if self._report_every and each > 0:
            size = max(1, min(int(self._report_every / each), tasks * 8))
        else:
            size = 1
        self.next_report = index + size
        return self.next_report

    def task_failed(
        self,
        index: int,
        function: object,
        error: BaseException | None,
        attempt: int,
        retrying: bool,
    ) -> None:
        """A task failed on its ``attempt``-th run (1 for the first); ``retrying`` when it will
        run again. The runner reports every failure here; observers hear of it from here.
        ``error`` may be None when nothing is ``watched`` (a remote one costs unpickling)."""
        self.recorder.failed(retrying)
        if self.call is not None and error is not None:
            self._notify("failed", self.call, index, function, error, attempt, retrying)

    # -- the end -------------------------------------------------------------------------
    def finish(self, done: int | None = None) -> None:
        """The call finished (``done``: its task count, when not reported task by task)."""
        if done is not None:
            self.done = done
        self._end(None)

    def close(self, error: BaseException | str | None) -> None:
        """The call ended without finishing: ``error`` raised, or a generator closed early.
        Nothing when it already ended."""
        if isinstance(error, BaseException):
            text = f"{type(error).__name__}: {error}".rstrip(": ")
            error = text if len(text) <= 200 else text[:197] + "..."
        self._end(error or "stopped")

    def _end(self, error: str | None) -> None:
        if self._ended is not None:
            return
        self._ended = time.monotonic()
        self._error = error
        if self._inline and self.watched and self.done > self._inline_done:
            self.ran_until(self.done, None)  # the last group of inline tasks
        if error is None and self._total != self.done:
            self.total = self.done  # an input without a length ended here
        self._held.clear()
        self.recorder.settle()
        if self.call is not None:
            wanted = any(observer.wants_summary for observer in self.observers)
            self._notify("finished", self.call, self.summary() if wanted else None, error)
        # the hub outlives the call as ``last_run``: it keeps no reference to the caller
        # (``on_end``, ``Parallel._print``), the observers or any task
        on_end, self.on_end = self.on_end, None
        self.observers = []
        self.lines = None
        if on_end is not None:
            on_end(self)

    def summary(self) -> RunSummary:
        """The call's :class:`~parjob.summary.RunSummary` (so far, while it runs)."""
        if self._summary is not None:
            return self._summary
        ended = self._ended if self._ended is not None else time.monotonic()
        if self.recorder.batches == 0 and self.done:
            # tasks run inline with nobody watching: one untimed span in the caller
            self.recorder.batch(0, self.done, ended - self.started, worker_id(), self.started_at)
        summary = self.recorder.summary(ended - self.started, self._error)
        if self._ended is not None:
            self._summary = summary
        return summary

    def _notify(self, event: str, *args: Any) -> None:
        for observer in list(self.observers):
            try:
                getattr(observer, event)(*args)
            except Exception as exc:
                # a broken progress callback or telemetry plugin must not end the user's run
                self.observers.remove(observer)
                if isinstance(observer, Bar):
                    with contextlib.suppress(Exception):
                        observer.finished(self.call, None, f"{type(exc).__name__}: {exc}")  # type: ignore[arg-type]
                warn_user(
                    f"parjob: the observer {observer!r} raised {type(exc).__name__}: {exc} "
                    f"(on {event}); it hears nothing more of this call"
                )


def _group(task: Any, tasks: int) -> str:
    """How the slowest list shows a group of tasks timed together."""
    name = function_name(task[0]) if task else "?"
    return f"{name}(...) (average of {tasks} tasks)"
