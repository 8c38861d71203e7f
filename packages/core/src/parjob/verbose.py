"""The ``verbose`` progress lines, in joblib's layout (log parsers and tests read them).

    [Parallel(n_jobs=2)]: Done   1 tasks      | elapsed:    0.6s
    [Parallel(n_jobs=2)]: Done  10 out of  10 | elapsed:    1.4s finished

Counts are as wide as the number of tasks when the input has a length, else 3 characters.
Up to ``verbose=10`` lines come at growing intervals, more often the higher the level;
above 10 every completed batch is reported. Lines go to stderr, or stdout from 50 on.
A built-in observer of the call (see ``parjob.observe``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

from parjob.observe import BatchInfo, CallInfo, Observer
from parjob.summary import RunSummary


def format_seconds(seconds: float) -> str:
    """``"   1.4s"``, or ``" 2.5min"`` past a minute (joblib's ``short_format_time``)."""
    if seconds > 60:
        return f"{seconds / 60:4.1f}min"
    return f" {seconds:5.1f}s"


def write_line(verbose: int, line: str) -> None:
    """Print one progress line where ``verbose`` sends it."""
    print(line, file=sys.stdout if verbose >= 50 else sys.stderr, flush=True)


class VerboseLines(Observer):
    """Prints what ``verbose`` asks for.

    ``write`` receives each message without its ``[Parallel(n_jobs=...)]: `` prefix
    (``Parallel._print``, which a subclass may override, as joblib's allows); by default
    the line is printed with it.
    """

    def __init__(
        self,
        verbose: int,
        n_jobs: int,
        known_total: int | None,
        write: Callable[[str], None] | None,
        started: float,
    ) -> None:
        self.verbose = verbose
        self.prefix = f"[Parallel(n_jobs={n_jobs})]: "
        self._began = started
        self.total = known_total
        self.width = len(str(known_total)) if known_total else 3
        self._write = write
        self._next_report = 1
        self.done = 0

    def say(self, text: str) -> None:
        if self._write is not None:
            self._write(text)
        else:
            write_line(self.verbose, self.prefix + text)

    def total_known(self, total: int) -> None:
        self.total = total

    def batch(self, call: CallInfo | None, batch: BatchInfo) -> None:
        self.done = done = batch.done
        if done == self.total:
            return  # the finishing line reports it
        if self.verbose <= 10:
            if done < self._next_report:
                return
            # report again after a step that grows with progress, more slowly at higher verbosity
            step = max(1, math.ceil(done * (11 - self.verbose) / 10))
            self._next_report = done + step
        seconds = time.monotonic() - self._began
        elapsed = format_seconds(seconds)
        width = self.width
        if self.total is None:
            pad = " " * (len("out of ") + width - len("tasks"))
            self.say(f"Done {done:{width}d} tasks {pad}| elapsed: {elapsed}")
        else:
            remaining = format_seconds(seconds / done * (self.total - done))
            self.say(
                f"Done {done:{width}d} out of {self.total:{width}d} | elapsed: {elapsed} "
                f"remaining: {remaining}"
            )

    def finished(self, call: CallInfo, summary: RunSummary | None, error: str | None) -> None:
        """The finishing line, when the call finished (not when it failed)."""
        if error is not None:
            return
        elapsed = format_seconds(time.monotonic() - self._began)
        count = f"{self.done:{self.width}d}"
        self.say(f"Done {count} out of {count} | elapsed: {elapsed} finished")
