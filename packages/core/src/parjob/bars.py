"""``progress=``: a live bar that counts tasks, as an observer of the call.

``True``: tqdm when it is installed (``tqdm.auto``: a widget in Jupyter), else a plain
line on stderr, rewritten at most five times a second (a new line every few seconds when
stderr is not a terminal). A class (``tqdm.rich.tqdm``, ``tqdm.notebook.tqdm``, ...) is
made with ``total``, ``unit`` and ``desc``; an object with ``update`` (a tqdm bar of your
own) is advanced and left open; any other callable is called with ``(done, total)``
after each batch. While a bar is open in a thread, or inside a task of another call,
``progress=True`` shows no second bar (nested calls show only the outer one).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from parjob import config
from parjob.observe import BatchInfo, CallInfo, Observer
from parjob.summary import RunSummary

#: bars open, by the thread that opened them
_open: Counter[int] = Counter()
_lock = threading.Lock()


def _bars_open() -> int:
    return _open[threading.get_ident()]


def make_bar(option: Any, total: int | None, backend: str) -> Observer | None:
    """The bar observer ``progress=option`` asks for, or None."""
    if option is None or option is False:
        return None
    if option is True:
        if _bars_open() or config.nesting_level() > 0:
            return None
        try:
            tqdm = _tqdm()
        except ImportError:
            return _opened(PlainLine(total, backend))
        return _opened(TqdmBar(tqdm, total, backend))
    if isinstance(option, type):
        return _opened(TqdmBar(option, total, backend))
    if hasattr(option, "update"):
        return _opened(UserBar(option))
    return _opened(Callback(option))


def _tqdm() -> Any:
    """tqdm's bar class: its notebook widget under IPython (``tqdm.auto``), else the
    terminal one (``tqdm.auto`` would import asyncio too)."""
    if "IPython" in sys.modules:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm


def _opened(bar: Bar) -> Bar:
    bar.thread = threading.get_ident()
    with _lock:
        _open[bar.thread] += 1
    return bar


class Bar(Observer):
    """A bar: opened when made, closed (once) when the call ends."""

    thread: int | None = None
    _closed = False

    def finished(self, call: CallInfo, summary: RunSummary | None, error: str | None) -> None:
        self.release()
        if not self._closed:
            self._closed = True
            self.close(error)

    def release(self) -> bool:
        """No longer count this bar as open; False when it was not."""
        thread, self.thread = self.thread, None
        if thread is None:
            return False
        with _lock:
            _open[thread] -= 1
            if _open[thread] <= 0:
                del _open[thread]
        return True

    def close(self, error: str | None) -> None:
        pass


class TqdmBar(Bar):
    def __init__(self, cls: Any, total: int | None, backend: str) -> None:
        try:
            self.bar = cls(total=total, unit="task", desc=backend, dynamic_ncols=True)
        except TypeError:  # a tqdm-like class with fewer keywords
            self.bar = cls(total=total)

    def batch(self, call: CallInfo, batch: BatchInfo) -> None:
        self.bar.update(batch.tasks)

    def total_known(self, total: int) -> None:
        self.bar.total = total
        self.bar.refresh()

    def close(self, error: str | None) -> None:
        self.bar.close()


class UserBar(Bar):
    """A bar the caller made: advanced, never closed here (it may span several calls)."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def batch(self, call: CallInfo, batch: BatchInfo) -> None:
        self.bar.update(batch.tasks)


class Callback(Bar):
    def __init__(self, function: Callable[[int, int | None], Any]) -> None:
        self.function = function

    def batch(self, call: CallInfo, batch: BatchInfo) -> None:
        self.function(batch.done, batch.total)


class PlainLine(Bar):
    """``parjob loky: 1200/5000 tasks  24% | 3012 tasks/s | 0:00:01 < 0:00:03``."""

    def __init__(self, total: int | None, backend: str, out: Any = None) -> None:
        self.out = out if out is not None else sys.stderr
        self.total = total
        self.backend = backend
        self._began = time.monotonic()
        self.done = 0
        terminal = getattr(self.out, "isatty", lambda: False)()
        self.end = "\r" if terminal else "\n"
        self.interval = 0.2 if terminal else 5.0
        self._shown = 0.0
        self._width = 0

    def batch(self, call: CallInfo, batch: BatchInfo) -> None:
        self.done = batch.done
        now = time.monotonic()
        if now - self._shown >= self.interval:
            self._shown = now
            self._show(now, self.end)

    def total_known(self, total: int) -> None:
        self.total = total

    def close(self, error: str | None) -> None:
        self._show(time.monotonic(), "\n", error)

    def _show(self, now: float, end: str, error: str | None = None) -> None:
        elapsed = now - self._began
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            count = f"{self.done}/{self.total} tasks {self.done / self.total:4.0%}"
            left = (self.total - self.done) / rate if rate > 0 else 0.0
            timing = f"{_clock(elapsed)} < {_clock(left)}"
        else:
            count = f"{self.done} tasks"
            timing = _clock(elapsed)
        line = f"parjob {self.backend}: {count} | {rate:.0f} tasks/s | {timing}"
        if error is not None:
            line += f" | stopped: {error}"
        # pad over a longer line shown before (the line is rewritten in place)
        self.out.write(line.ljust(self._width) + end)
        self._width = len(line) if end == "\r" else 0
        self.out.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
