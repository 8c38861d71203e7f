"""The core's side of "a retry runs on another worker": which workers it asks the backend
to avoid (``Backend.submit_avoiding``), for raised exceptions and for named crashes."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from parjob import Parallel, TaskError, WorkerCrashedError, crashes, delayed
from parjob.backend import Backend, RunSettings
from parjob.tasks import BatchResult
from parjob.testing import fail_until, square

FIRST, SECOND = "node-a:100:1", "node-b:200:1"


def dies_on_first(x: int) -> int:
    """Its worker "dies" when it runs on FIRST (the backend below fakes the crash)."""
    return x


class TwoPlaces(Backend):
    """Threads posing as two workers: batches run on FIRST unless told to avoid it."""

    name = "two-places"
    uses_threads = True
    serializes = False
    local = False
    can_avoid_workers = True

    def __init__(self) -> None:
        self.pool: ThreadPoolExecutor | None = None
        self.avoided: list[frozenset[str]] = []

    def start(self, n_jobs: int, settings: RunSettings) -> None:
        self.pool = ThreadPoolExecutor(2)

    def submit(self, work: Any) -> Future[BatchResult]:
        return self._run(work, FIRST)

    def submit_avoiding(self, work: Any, workers: frozenset[str]) -> Future[BatchResult]:
        self.avoided.append(workers)
        return self._run(work, next((w for w in (FIRST, SECOND) if w not in workers), FIRST))

    def _run(self, work: Any, place: str) -> Future[BatchResult]:
        def run() -> BatchResult:
            if work.first_function is dies_on_first and place == FIRST:
                raise crashes.blame(RuntimeError("lost"), "was lost", worker=place)
            return work()._replace(worker=place)

        assert self.pool is not None
        return self.pool.submit(run)

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None

    abort = stop


def test_a_retry_avoids_the_worker_it_failed_on(tmp_path: Path) -> None:
    backend = TwoPlaces()
    path = str(tmp_path / "runs")
    out = Parallel(backend=backend, n_jobs=2, retries=1)(
        [delayed(fail_until)(path, 1), delayed(square)(3)]
    )
    assert out == [2, 9]
    assert backend.avoided == [frozenset({FIRST})]


def test_every_worker_it_failed_on_is_avoided(tmp_path: Path) -> None:
    backend = TwoPlaces()
    path = str(tmp_path / "runs")
    assert Parallel(backend=backend, n_jobs=2, retries=2)([delayed(fail_until)(path, 2)]) == [3]
    assert backend.avoided == [frozenset({FIRST}), frozenset({FIRST, SECOND})]


def test_no_failure_no_avoiding() -> None:
    backend = TwoPlaces()
    assert Parallel(backend=backend, n_jobs=2, retries=3)(delayed(square)(i) for i in range(9))
    assert backend.avoided == []


@pytest.mark.parametrize("retries", [0, 1])
def test_a_crash_names_its_worker_and_its_retry_avoids_it(retries: int) -> None:
    backend = TwoPlaces()
    (out,) = Parallel(backend=backend, n_jobs=2, retries=retries, on_error="collect")(
        [delayed(dies_on_first)(7)]
    )
    if retries:
        assert out == 7 and backend.avoided == [frozenset({FIRST})]
    else:
        assert isinstance(out, TaskError) and isinstance(out.exception, WorkerCrashedError)
        assert out.exception.worker == FIRST and "was lost" in str(out.exception)


def test_a_backend_that_cannot_choose_just_submits(tmp_path: Path) -> None:
    path = str(tmp_path / "runs")
    assert not Backend.can_avoid_workers
    assert Parallel(n_jobs=2, backend="threading", retries=1)([delayed(fail_until)(path, 1)]) == [2]
