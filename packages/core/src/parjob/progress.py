"""The ``verbose`` progress lines, in joblib's layout (log parsers and tests read them).

    [Parallel(n_jobs=2)]: Done   1 tasks      | elapsed:    0.6s
    [Parallel(n_jobs=2)]: Done  10 out of  10 | elapsed:    1.4s finished

Counts are as wide as the number of tasks when the input has a length, else 3 characters.
Up to ``verbose=10`` lines come at growing intervals, more often the higher the level;
above 10 every completed batch is reported. Lines go to stderr, or stdout from 50 on.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable


def format_seconds(seconds: float) -> str:
    """``"   1.4s"``, or ``" 2.5min"`` past a minute (joblib's ``short_format_time``)."""
    if seconds > 60:
        return f"{seconds / 60:4.1f}min"
    return f" {seconds:5.1f}s"


def write_line(verbose: int, line: str) -> None:
    """Print one progress line where ``verbose`` sends it."""
    print(line, file=sys.stdout if verbose >= 50 else sys.stderr, flush=True)


class Progress:
    """Counts finished tasks for one call and prints what ``verbose`` asks for.

    ``write`` receives each message without its ``[Parallel(n_jobs=...)]: `` prefix
    (``Parallel._print``, which a subclass may override, as joblib's allows); by default
    the line is printed with it.
    """

    def __init__(
        self,
        verbose: int,
        n_jobs: int,
        known_total: int | None = None,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self.verbose = verbose
        self.prefix = f"[Parallel(n_jobs={n_jobs})]: "
        self.started = time.monotonic()
        self.done = 0
        #: the number of tasks, once known (the input's length, or when it ran out)
        self.total: int | None = known_total
        self.width = len(str(known_total)) if known_total else 3
        self._write = write
        self._next_report = 1

    def say(self, text: str) -> None:
        if not self.verbose:
            return
        if self._write is not None:
            self._write(text)
        else:
            write_line(self.verbose, self.prefix + text)

    def add(self, tasks: int) -> None:
        self.done += tasks
        if not self.verbose or self.done == self.total:
            return
        if self.verbose <= 10:
            if self.done < self._next_report:
                return
            # report again after a step that grows with progress, more slowly at higher verbosity
            step = max(1, math.ceil(self.done * (11 - self.verbose) / 10))
            self._next_report = self.done + step
        elapsed = format_seconds(time.monotonic() - self.started)
        width = self.width
        if self.total is None:
            pad = " " * (len("out of ") + width - len("tasks"))
            self.say(f"Done {self.done:{width}d} tasks {pad}| elapsed: {elapsed}")
        else:
            seconds = time.monotonic() - self.started
            remaining = format_seconds(seconds / self.done * (self.total - self.done))
            self.say(
                f"Done {self.done:{width}d} out of {self.total:{width}d} | elapsed: {elapsed} "
                f"remaining: {remaining}"
            )

    def task_failed(
        self, index: int, function: object, error: BaseException, attempt: int, retrying: bool
    ) -> None:
        """A task failed on its ``attempt``-th run (1 for the first); ``retrying`` when it will
        run again. The runner reports every failure here; observers hear of it from here."""

    def finish(self) -> None:
        elapsed = format_seconds(time.monotonic() - self.started)
        done = f"{self.done:{self.width}d}"
        self.say(f"Done {done} out of {done} | elapsed: {elapsed} finished")
