"""Conformance tests for what reaches the workers (issue 22): ``BackendConformance``
inherits them, so every backend runs them on itself.

The task functions live here so that process and cluster workers can import them.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import random
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from parjob import Parallel, delayed, parallel_config
from parjob.seeds import SeedWarning, task_rng

#: a module-level context variable, as a library would keep its setting
REQUEST = contextvars.ContextVar("parjob_conformance_request", default="unset")
_STATE: dict[str, Any] = {}
_INIT_CALLS: list[tuple[str, int]] = []
_LOGGER = "parjob.conformance.relay"


def read_request(_: Any) -> str:
    return REQUEST.get()


def warn_then(x: int) -> int:
    warnings.warn(f"task {x} warns", UserWarning, stacklevel=1)
    return x


def log_and_print(x: int) -> int:
    logging.getLogger(_LOGGER).info("record from task %d", x)
    print(f"line from task {x}")
    return x


def draws(_: Any, with_globals: bool) -> tuple[Any, ...]:
    own = int(task_rng().integers(1 << 62))
    if not with_globals:
        return (own,)
    import numpy

    return (own, random.random(), float(numpy.random.random()))


def _new_global_drawer() -> Callable[[Any], float]:
    """A task drawing from the global ``random`` that no process has seen yet (a name of
    its own, pickled by value)."""
    namespace: dict[str, Any] = {"__name__": "parjob_seed_check"}
    name = f"draw_{uuid.uuid4().hex}"  # (some picklers rename the file of dynamic code)
    source = f"def {name}(_):\n    import random\n    return random.random()\n"
    exec(compile(source, "<parjob-seed-check>", "exec"), namespace)
    return namespace[name]  # type: ignore[no-any-return]


_THREAD_INITS = threading.local()


def remember(tag: str) -> None:
    _INIT_CALLS.append((tag, threading.get_ident()))
    # counted per thread object (idents are reused by later threads)
    counts = _THREAD_INITS.__dict__.setdefault("counts", {})
    counts[tag] = counts.get(tag, 0) + 1
    _STATE[tag] = f"loaded {tag}"


def initialized(_: Any, tag: str) -> tuple[int, int, int, int, str | None]:
    here = threading.get_ident()
    in_process = sum(1 for seen, _ in _INIT_CALLS if seen == tag)
    in_thread = _THREAD_INITS.__dict__.get("counts", {}).get(tag, 0)
    return os.getpid(), here, in_process, in_thread, _STATE.get(tag)


@contextlib.contextmanager
def _recording() -> Iterator[_Records]:
    """Keep the INFO records of the tasks' logger while the block runs."""
    logger = logging.getLogger(_LOGGER)
    handler = _Records()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class WorkerContextConformance:
    """The caller's world in the workers: context, warnings, logs, prints, seeds, state."""

    n_jobs: int
    configured: Any  # the fixture BackendConformance defines

    def capabilities(self) -> Any:  # pragma: no cover - BackendConformance's
        raise NotImplementedError

    def test_context_variables_reach_tasks(self, configured: None) -> None:
        token = REQUEST.set("from the caller")
        try:
            out = Parallel()(delayed(read_request)(i) for i in range(6))
        finally:
            REQUEST.reset(token)
        assert out == ["from the caller"] * 6

    def test_caller_warning_filters_apply_in_workers(self, configured: None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            with pytest.raises(UserWarning, match="task 0 warns"):
                Parallel()(delayed(warn_then)(i) for i in range(1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            assert Parallel()(delayed(warn_then)(i) for i in range(4)) == [0, 1, 2, 3]

    def test_logs_and_prints_reach_the_caller(
        self, configured: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with _recording() as handler:
            Parallel(batch_size=2)(delayed(log_and_print)(i) for i in range(6))
        messages = sorted(record.getMessage() for record in handler.records)
        assert messages == sorted(f"record from task {i}" for i in range(6))
        if self.capabilities().serializes:  # crossed a process: marked with the worker
            assert all(getattr(r, "parjob_worker", None) for r in handler.records)
        out = capsys.readouterr().out
        assert all(f"line from task {i}\n" in out for i in range(6))

    def test_relays_can_be_turned_off(self, configured: None) -> None:
        if not self.capabilities().serializes:
            pytest.skip("thread workers print to the caller's streams themselves")
        with _recording() as handler:
            # (an engine may still forward its workers' output its own way, as Ray does)
            out = Parallel(relay_output=False, relay_logs=False)(
                delayed(log_and_print)(i) for i in range(3)
            )
        assert out == [0, 1, 2]
        assert handler.records == []

    def test_seeded_results_are_the_same_for_any_n_jobs_and_batch_size(
        self, configured: None
    ) -> None:
        pytest.importorskip("numpy")
        # the global generators are shared by threads: only task_rng() is per task there
        with_globals = not self.capabilities().uses_threads
        with parallel_config("sequential"):
            reference = Parallel(seed=11, seed_globals=with_globals)(
                delayed(draws)(i, with_globals) for i in range(12)
            )
        assert len(set(reference)) == 12
        for n_jobs, batch_size in ((self.n_jobs, "auto"), (self.n_jobs, 5), (1, 1)):
            out = Parallel(
                n_jobs=n_jobs, batch_size=batch_size, seed=11, seed_globals=with_globals
            )(delayed(draws)(i, with_globals) for i in range(12))
            assert out == reference, (n_jobs, batch_size)
            if with_globals:  # seed= alone: each task's own stream, the globals as they are
                out = Parallel(n_jobs=n_jobs, batch_size=batch_size, seed=11)(
                    delayed(draws)(i, False) for i in range(12)
                )
                assert out == [own[:1] for own in reference], (n_jobs, batch_size)

    def test_draws_from_the_global_generators_under_seed_are_warned(self, configured: None) -> None:
        draw = _new_global_drawer()  # watched in its first seeded batch in each process
        with pytest.warns(SeedWarning, match="drew from the global random generator"):
            out = Parallel(seed=2)(delayed(draw)(i) for i in range(4))
        assert len(out) == 4

    def test_seed_globals_is_honoured_or_refused(self, configured: None) -> None:
        pytest.importorskip("numpy")
        try:
            first = Parallel(seed=3, seed_globals=True, batch_size=2)
        except ValueError as refused:  # only where thread workers share the globals
            assert self.capabilities().uses_threads
            assert "seed_globals=True cannot be honoured" in str(refused)
            return
        tasks = [delayed(draws)(i, True) for i in range(6)]
        once = first(tasks)
        again = Parallel(seed=3, seed_globals=True, batch_size=3)(tasks)
        assert once == again
        assert len({values[1:] for values in once}) == 6  # each task's globals its own

    def test_initializer_runs_once_per_worker_and_its_state_persists(
        self, configured: None
    ) -> None:
        tag = f"init-{os.getpid()}-{id(self)}-{random.random()}"
        threads = self.capabilities().uses_threads
        for _ in range(2):  # a second call with the same initializer runs nothing again
            out = Parallel(initializer=remember, initargs=(tag,), batch_size=1)(
                delayed(initialized)(i, tag) for i in range(8)
            )
            for _pid, _thread, in_process, in_thread, state in out:
                assert state == f"loaded {tag}"
                assert (in_thread if threads else in_process) == 1

    def test_max_tasks_per_worker_is_honoured_or_refused(self, configured: None) -> None:
        if not self.capabilities().recycles_workers:
            with pytest.raises(ValueError, match="max_tasks_per_worker=2 needs a backend"):
                Parallel(max_tasks_per_worker=2)
            return
        pids = Parallel(max_tasks_per_worker=2)(delayed(os.getpid)() for _ in range(8))
        per_worker = [pids.count(pid) for pid in set(pids)]
        assert max(per_worker) <= 2 and len(per_worker) >= 4
