"""Conformance tests for watching a call: lifecycle hooks, ``progress=``, ``last_run``.

Part of :class:`parjob.testing.BackendConformance` (every backend runs them); the task
functions are those of ``parjob.testing``, which workers import.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from parjob import Parallel, delayed
from parjob.hookspecs import hookimpl
from parjob.observe import add_observer, remove_observer


def _suite() -> ModuleType:
    from parjob import testing  # imports this module: the task functions live there

    return testing


class Recording:
    """An observer plugin that records the lifecycle hooks of top-level calls."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def of(self, name: str) -> list[Any]:
        return [value for event, value in self.events if event == name]

    @hookimpl
    def call_started(self, call: Any) -> None:
        if call.nesting_level == 0:
            self.events.append(("started", call))

    @hookimpl
    def batch_finished(self, call: Any, batch: Any) -> None:
        if call.nesting_level == 0:
            self.events.append(("batch", batch))

    @hookimpl
    def call_finished(self, call: Any, summary: Any) -> None:
        if call.nesting_level == 0:
            self.events.append(("finished", summary))


class ObserveConformance:
    """Watching a call works the same on every backend (mixed into BackendConformance)."""

    def capabilities(self) -> Any:  # provided by BackendConformance
        raise NotImplementedError

    # watching a call (hooks, progress=, last_run)
    @pytest.fixture
    def recording(self) -> Iterator[Recording]:
        recording = Recording()
        add_observer(recording)
        try:
            yield recording
        finally:
            remove_observer(recording)

    def test_hooks_fire_with_right_counts(self, configured: None, recording: Recording) -> None:
        assert Parallel()(delayed(_suite().square)(i) for i in range(40)) == [
            i * i for i in range(40)
        ]
        (call,) = recording.of("started")
        assert call.backend == self.capabilities().name and call.n_jobs >= 1
        batches = recording.of("batch")
        covered = sorted(k for b in batches for k in range(b.start, b.start + b.tasks))
        assert covered == list(range(40))  # every task reported once
        assert all(b.worker and b.began > 0 and b.seconds >= 0 for b in batches)
        assert max(b.done for b in batches) == 40
        (summary,) = recording.of("finished")
        assert summary.tasks == 40 and summary.error is None
        order = [event for event, _ in recording.events]
        assert order[0] == "started" and order[-1] == "finished"

    def test_hooks_hear_of_a_failed_call(self, configured: None, recording: Recording) -> None:
        with pytest.raises(ValueError):
            Parallel()(delayed(_suite().fail_on)(i, 3) for i in range(8))
        (summary,) = recording.of("finished")
        assert summary.error is not None and "ValueError" in summary.error

    def test_progress_counts_tasks(self, configured: None) -> None:
        seen: list[tuple[int, Any]] = []
        out = Parallel(progress=lambda done, total: seen.append((done, total)))(
            delayed(_suite().square)(i) for i in range(60)
        )
        assert out == [i * i for i in range(60)]
        counts = [done for done, _ in seen]
        assert counts == sorted(counts) and counts[-1] == 60

    def test_progress_advances_before_a_generator_input_ends(self, configured: None) -> None:
        seen: list[tuple[int, Any]] = []

        def tasks() -> Iterator[Any]:
            for i in range(30):
                yield delayed(_suite().sleep_then)(i, 0.002)

        out = Parallel(progress=lambda done, total: seen.append((done, total)), batch_size=2)(
            tasks()
        )
        assert out == list(range(30))
        assert seen[0][1] is None and seen[0][0] >= 1  # counting while the length is unknown
        assert seen[-1][0] == 30

    def test_progress_counts_results_of_a_generator_output(self, configured: None) -> None:
        seen: list[int] = []
        out = Parallel(return_as="generator", progress=lambda done, total: seen.append(done))(
            delayed(_suite().square)(i) for i in range(20)
        )
        for k, _ in enumerate(out, start=1):
            assert seen and seen[-1] >= k  # reported no later than its result is yielded
        assert seen[-1] == 20

    def test_progress_bar_on_stderr(self, configured: None, capsys: Any) -> None:
        Parallel(progress=True)(delayed(_suite().square)(i) for i in range(20))
        assert "20" in capsys.readouterr().err

    def test_last_run_totals(self, configured: None) -> None:
        parallel = Parallel()
        assert parallel.last_run is None
        parallel(delayed(_suite().sleep_then)(i, 0.001) for i in range(50))
        run = parallel.last_run
        assert run is not None and run.error is None
        assert run.tasks == 50
        assert sum(size * count for size, count in run.batch_sizes.items()) == 50
        assert sum(run.batch_sizes.values()) == run.batches
        assert sum(w.tasks for w in run.workers.values()) == 50
        assert sum(w.batches for w in run.workers.values()) == run.batches
        assert run.elapsed > 0 and 0 <= run.busy <= 1
        if run.n_jobs > 1:  # inline tasks are timed only when something watches the call
            assert 1 <= len(run.slowest) <= 5 and run.slowest[0].call.startswith("sleep_then(")
        assert "50 tasks" in str(run)
        with pytest.raises(ValueError):
            parallel(delayed(_suite().fail_on)(i, 2) for i in range(5))
        assert parallel.last_run is not None and "ValueError" in str(parallel.last_run.error)
