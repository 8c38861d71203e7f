"""The ``verbose`` progress lines: ``[Parallel(n_jobs=2)]: Done   4 tasks | elapsed: 0.8s``.

Up to ``verbose=10`` lines come at growing intervals, more often the higher the level;
above 10 every completed batch is reported. Lines go to stderr, or stdout above 50.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:5.1f}s"
    return f"{seconds / 60:4.1f}min"


class Progress:
    """Counts finished tasks for one call and prints what ``verbose`` asks for."""

    def __init__(self, verbose: int, n_jobs: int) -> None:
        self.verbose = verbose
        self.prefix = f"[Parallel(n_jobs={n_jobs})]: "
        self.started = time.monotonic()
        self.done = 0
        self.total: int | None = None
        self._next_report = 1

    @property
    def stream(self) -> TextIO:
        return sys.stdout if self.verbose > 50 else sys.stderr

    def say(self, text: str) -> None:
        if self.verbose:
            print(self.prefix + text, file=self.stream, flush=True)

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
        elapsed = time.monotonic() - self.started
        if self.total is None:
            self.say(f"Done {self.done:4d} tasks      | elapsed: {format_seconds(elapsed)}")
        else:
            remaining = elapsed / self.done * (self.total - self.done)
            self.say(
                f"Done {self.done:4d} out of {self.total:4d} | elapsed: {format_seconds(elapsed)}"
                f" remaining: {format_seconds(remaining)}"
            )

    def finish(self) -> None:
        elapsed = time.monotonic() - self.started
        done = f"{self.done:4d}"
        self.say(f"Done {done} out of {done} | elapsed: {format_seconds(elapsed)} finished")
