"""Per-task random streams for ``Parallel(seed=...)``.

Task ``i`` of a call made with ``seed=s`` gets its own stream, a function of ``s`` and
``i`` only, so results do not depend on the backend, ``n_jobs``, batch sizes or the order
in which tasks finish. :func:`task_rng` is numpy's ``Generator`` on the child ``i`` of
``SeedSequence(s)``, made on first use: a task that never asks costs nothing.

With ``seed_globals=True`` the global ``random`` module and numpy's global
``RandomState`` are also seeded before each task from the same pair (in worker processes
and inline; thread workers share those globals and refuse it). That costs about 5 µs a
task, whether the task draws or not, which is why it is asked for and not the default.
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
from typing import Any

_MASK64 = (1 << 64) - 1

#: what a running batch (or inline task) records: (seed, first index, the batch's results)
Running = tuple[int, int, Any]


class _Task(threading.local):
    #: the running batch of a seeded call in this thread, or None outside one; the running
    #: task's index is the first index plus the results already appended (tasks append in
    #: order), so naming each task costs nothing
    running: Running | None = None
    #: the Generator made for the task ``made_for`` names (one per task, made on first use)
    rng: Any = None
    made_for: tuple[int, int] | None = None


_task = _Task()


_numpy_checked = False
_numpy_seed: Any = None
_prepare_lock = threading.Lock()


def prepare() -> None:
    """Load numpy (once per process, when installed) before a batch that seeds the globals,
    so a task that imports it only later still finds its global generator seeded."""
    global _numpy_checked, _numpy_seed
    if _numpy_checked:
        return
    with _prepare_lock:  # a second thread waits until numpy is fully imported
        if not _numpy_checked:
            with contextlib.suppress(ImportError):
                import numpy

                _numpy_seed = numpy.random.seed
            _numpy_checked = True


def begin(seed: int, start: int, results: Any) -> tuple[Any, ...]:
    """Make the tasks of a batch (``start`` is its first index; ``results`` the list its
    tasks append to, in order) the running ones for :func:`task_rng`; returns what was
    running before (the task of an outer call, when a nested call runs inline), for
    :func:`end`."""
    current = _task
    previous = (current.running, current.rng, current.made_for)
    current.running = (seed, start, results)
    return previous


_NOTHING = (None, None, None)


def end(previous: tuple[Any, ...] = _NOTHING) -> None:
    """End :func:`begin`: what ran before is running again, with its own generator."""
    current = _task
    current.running, current.rng, current.made_for = previous


def seed_globals(seed: int, index: int) -> None:
    """Seed this process's global ``random`` and numpy generators for task ``index`` of a
    call with ``seed`` (after :func:`prepare`)."""
    mixed = _mix(seed, index)
    random.seed(mixed)
    if _numpy_seed is not None:
        _numpy_seed(mixed & 0xFFFFFFFF)


class SeedWarning(UserWarning):
    """Tasks of a call made with ``seed=`` drew from the global ``random`` or numpy
    generators, which only ``seed_globals=True`` seeds per task."""


#: functions (where their code is) whose first seeded batch in this process was watched
#: for draws from the global generators; a few hundred catch the usual culprit
_watched: set[Any] = set()
_WATCH_AT_MOST = 256


def watch(function: Any) -> tuple[Any, Any] | None:
    """Before the first seeded batch of ``function`` in this process (without
    ``seed_globals``): the global generators' states, for :func:`drew`; else None."""
    code = getattr(function, "__code__", None)
    # by place in the source: a function pickled by value arrives as new code each batch
    key = (code.co_filename, code.co_firstlineno, code.co_name) if code else id(function)
    if key in _watched or len(_watched) >= _WATCH_AT_MOST:
        return None
    _watched.add(key)
    return _states()


def drew(before: tuple[Any, Any]) -> str | None:
    """After a watched batch: what to warn when its tasks drew from the global generators
    (their draws depend on the worker, so they do not repeat); None when they did not."""
    after = _states()
    names = [
        name
        for name, old, new in zip(("random", "numpy.random"), before, after, strict=True)
        if old is not None and old != new
    ]
    if not names:
        return None
    return (
        f"tasks of a call made with seed= drew from the global {' and '.join(names)} "
        "generator, which seed= leaves as it is: those draws depend on the worker that ran "
        "the task and do not repeat. Draw from parjob.task_rng() instead, or pass "
        "seed_globals=True to seed the global generators before each task (about 5 µs a task)"
    )


def _states() -> tuple[Any, Any]:
    """The global ``random`` state, and numpy's when numpy is loaded (else None)."""
    found = sys.modules.get("numpy.random")
    numpy_state = None
    if found is not None:
        _, keys, position, has_gauss, gauss = found.get_state(legacy=True)
        numpy_state = (keys.tobytes(), position, has_gauss, gauss)
    return random.getstate(), numpy_state


def task_rng() -> Any:
    """The running task's own ``numpy.random.Generator`` (the same object within a task).

    Only inside a task of a ``Parallel`` call made with ``seed=``; the stream is the
    ``SeedSequence(seed, spawn_key=(task_index,))`` child, whatever runs the task.
    """
    current = _task
    running = current.running
    if running is None:
        raise RuntimeError(
            "parjob.task_rng() is only available inside a task of a Parallel call made "
            "with seed=..., e.g. Parallel(n_jobs=2, seed=0)(delayed(f)(x) for x in data)"
        )
    seed, start, results = running
    key = (seed, start + len(results))
    if current.made_for != key:
        import numpy

        sequence = numpy.random.SeedSequence(seed, spawn_key=(key[1],))
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


def check_seed_globals(value: Any, seed: int | None) -> bool:
    """``seed_globals=`` as accepted by ``Parallel``: a bool, True only with ``seed=``."""
    if not isinstance(value, bool):
        raise ValueError(f"seed_globals must be True or False, got {value!r}")
    if value and seed is None:
        raise ValueError(
            "seed_globals=True needs seed=..., e.g. Parallel(seed=0, seed_globals=True)"
        )
    return value


def check_globals_are_own(backend: Any, n_jobs: int) -> None:
    """Refuse ``seed_globals=True`` where tasks share the globals while they run: on
    several thread workers."""
    if backend.uses_threads and n_jobs > 1:
        raise ValueError(
            f"seed_globals=True cannot be honoured on {backend!r}: its thread workers "
            "share the random and numpy global generators, so a task's draws from them "
            "could not be its own. Use parjob.task_rng() in the task, or a backend whose "
            "workers are processes (e.g. 'loky')"
        )


def _mix(seed: int, index: int) -> int:
    """A 64-bit value of ``(seed, index)`` (splitmix64 steps): cheap, and far apart for
    neighbouring indexes, so the global generators' streams do not overlap."""
    z = (seed * 0x9E3779B97F4A7C15 + index + 1) & _MASK64
    for _ in range(2):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        z ^= z >> 31
    return z
