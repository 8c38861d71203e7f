"""Per-task random streams for ``Parallel(seed=...)``.

Task ``i`` of a call made with ``seed=s`` gets its own stream, a function of ``s`` and
``i`` only, so results do not depend on the backend, ``n_jobs``, batch sizes or the order
in which tasks finish. :func:`task_rng` is numpy's ``Generator`` on the child ``i`` of
``SeedSequence(s)`` (made on first use); the global ``random`` module and, when numpy is
loaded, numpy's global ``RandomState`` are seeded before each task from the same pair, in
worker processes and inline (thread workers share those globals: there only
:func:`task_rng` is the task's own).
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from typing import Any

_MASK64 = (1 << 64) - 1


class _Task(threading.local):
    #: (seed, index) of the running task, or None outside a seeded task
    key: tuple[int, int] | None = None
    #: the Generator made for ``made_for`` (a task's key: one per task, made on first use)
    rng: Any = None
    made_for: tuple[int, int] | None = None


_task = _Task()


_numpy_checked = False
_numpy_seed: Any = None
_prepare_lock = threading.Lock()


def prepare() -> None:
    """Load numpy (once per process, when installed) before a seeded batch, so a task that
    imports it only later still finds its global generator seeded."""
    global _numpy_checked, _numpy_seed
    if _numpy_checked:
        return
    with _prepare_lock:  # a second thread waits until numpy is fully imported
        if not _numpy_checked:
            with contextlib.suppress(ImportError):
                import numpy

                _numpy_seed = numpy.random.seed
            _numpy_checked = True


def begin_task(seed: int, index: int) -> None:
    """Seed this worker's global generators for task ``index`` of a call with ``seed``
    (after :func:`prepare`)."""
    _task.key = (seed, index)
    mixed = _mix(seed, index)
    random.seed(mixed)
    if _numpy_seed is not None:
        _numpy_seed(mixed & 0xFFFFFFFF)


def name_task(seed: int, index: int) -> None:
    """Make task ``index`` of a call with ``seed`` the running one for :func:`task_rng`,
    without seeding the global generators: on thread workers, which share those globals
    with each other, a task's draws from them could not be its own anyway."""
    _task.key = (seed, index)


def starter(portable: bool) -> Callable[[int, int], None]:
    """What a batch calls before each task of a seeded call: :func:`begin_task` in a worker
    process (``portable``), :func:`name_task` on a thread worker of the caller's process."""
    return begin_task if portable else name_task


def end_tasks() -> None:
    """Forget the running task (end of a batch): ``task_rng`` then refuses again."""
    _task.key = None
    _task.rng = _task.made_for = None


def task_rng() -> Any:
    """The running task's own ``numpy.random.Generator`` (the same object within a task).

    Only inside a task of a ``Parallel`` call made with ``seed=``; the stream is the
    ``SeedSequence(seed, spawn_key=(task_index,))`` child, whatever runs the task.
    """
    current = _task
    key = current.key
    if key is None:
        raise RuntimeError(
            "parjob.task_rng() is only available inside a task of a Parallel call made "
            "with seed=..., e.g. Parallel(n_jobs=2, seed=0)(delayed(f)(x) for x in data)"
        )
    if current.made_for is not key:
        import numpy

        sequence = numpy.random.SeedSequence(key[0], spawn_key=(key[1],))
        current.rng = numpy.random.default_rng(sequence)
        current.made_for = key
    return current.rng


def check_seed(seed: Any) -> int | None:
    """``seed`` as accepted by ``Parallel``: None or an int >= 0."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be None or an int >= 0, got {seed!r}")
    return int(seed)


def _mix(seed: int, index: int) -> int:
    """A 64-bit value of ``(seed, index)`` (splitmix64 steps): cheap, and far apart for
    neighbouring indexes, so the global generators' streams do not overlap."""
    z = (seed * 0x9E3779B97F4A7C15 + index + 1) & _MASK64
    for _ in range(2):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        z ^= z >> 31
    return z
