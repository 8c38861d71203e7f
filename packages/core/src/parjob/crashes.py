"""What a backend says about a batch lost with its worker, and how the core names it.

A backend sets its own engine error on a batch's future when the worker running it is
lost. It may say more, by marking that error (the marks travel on the exception object):

- :func:`blame`: this batch's worker died, and how ("was killed by signal SIGKILL").
  The core counts it as a crash of the batch's tasks.
- :func:`spare`: this batch was lost with others when some other worker died (a broken
  process pool, a cancelled neighbour); it did nothing wrong and is sent again as it is.

An unmarked error counts as a crash of the batch's tasks, as a blamed one does.
:func:`blame` may also name the worker that died (a ``parjob.workerid`` id, or its
``"host:pid"`` part): the error the core raises carries it as ``worker``, and a retry is
sent away from it where the backend can choose (``Backend.submit_avoiding``).
"""

from __future__ import annotations

import reprlib
import signal
from typing import Any

_BLAMED = "_parjob_worker_died"
_SPARED = "_parjob_lost_with_others"
_WORKER = "_parjob_dead_worker"

_SIGNAL_HINTS = {
    "SIGKILL": " (by the system, e.g. when it ran out of memory, or by a user)",
    "SIGSEGV": " (a segmentation fault in native code)",
    "SIGBUS": " (a bus error, e.g. a memory-mapped file that could not be read)",
    "SIGABRT": " (native code called abort())",
    "SIGTERM": " (asked to terminate)",
}


def blame(error: BaseException, how: str, worker: str | None = None) -> BaseException:
    """Mark ``error``: the worker running this batch died, as ``how`` says; returns it.

    ``worker``: which worker it was, where the backend knows.
    """
    setattr(error, _BLAMED, how)
    if worker is not None:
        setattr(error, _WORKER, worker)
    return error


def spare(error: BaseException) -> BaseException:
    """Mark ``error``: this batch was lost with others, not by its own doing; returns it."""
    if getattr(error, _BLAMED, None) is None:
        setattr(error, _SPARED, True)
    return error


def how_it_died(error: BaseException) -> str | None:
    """What :func:`blame` said about ``error``, or None."""
    return getattr(error, _BLAMED, None)


def dead_worker(error: BaseException) -> str | None:
    """The worker :func:`blame` named, or None."""
    return getattr(error, _WORKER, None)


def was_spared(error: BaseException) -> bool:
    """Whether a backend marked ``error`` with :func:`spare`."""
    return bool(getattr(error, _SPARED, False))


def describe_exit(exitcode: int | None) -> str:
    """``"exited with code 3"``, ``"was killed by signal SIGKILL (...)"``, as a phrase.

    ``exitcode`` as :mod:`multiprocessing` gives it: negative for a signal. Whether it was
    the out-of-memory killer is only known to the kernel log (``dmesg``), which an ordinary
    user usually cannot read: a SIGKILL names it as the likely cause.
    """
    if exitcode is None:
        return "ended (exit status unknown)"
    if exitcode >= 0:
        return f"exited with code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        return f"was killed by signal {-exitcode}"
    return f"was killed by signal {name}{_SIGNAL_HINTS.get(name, '')}"


_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40
_short.maxlist = _short.maxtuple = _short.maxdict = 4


def describe_task(index: int, function: str, task: Any = None) -> str:
    """``task 5 (f(3, 'a'))``: a task's position, function and a short view of its arguments."""
    if task is None:
        return f"task {index} ({function})"
    _, args, kwargs = task
    shown = [_short.repr(arg) for arg in args]
    shown += [f"{key}={_short.repr(value)}" for key, value in list(kwargs.items())[:4]]
    text = ", ".join(shown)
    if len(text) > 120:
        text = text[:117] + "..."
    return f"task {index} ({function}({text}))"
