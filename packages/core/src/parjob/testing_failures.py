"""The conformance suite's failure-policy part: on_error, retries, crashes, timeouts.

Mixed into :class:`parjob.testing.BackendConformance` (see docs/errors.md); the task
functions here are importable by workers, like those of :mod:`parjob.testing`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, ClassVar

import pytest

from parjob import Parallel, delayed
from parjob.backend import Backend
from parjob.errors import TaskError, TaskTimeoutError, WorkerCrashedError


def fail_until(path: str, failures: int) -> int:
    """Raise ``ValueError`` on the first ``failures`` runs (counted in ``path``), then
    return how many runs it took: a flaky task, for retries."""
    with open(path, "a") as handle:
        handle.write("x")
    with open(path) as handle:
        runs = len(handle.read())
    if runs <= failures:
        raise ValueError(f"flaky failure {runs}")
    return runs


def fail_first_run(path: str) -> str:
    """Raise ``ValueError`` on the first run, writing its worker's id to ``path``; after
    that, return the worker's id: where a retry ran."""
    from parjob.workerid import worker_id

    if not os.path.exists(path):
        with open(path, "w") as handle:
            handle.write(worker_id())
        raise ValueError("the first run fails")
    return worker_id()


def exit_on(x: int, bad: int) -> int:
    """``x``, or the worker process ends at once (``os._exit(3)``) when ``x == bad``."""
    if x == bad:
        os._exit(3)
    return x


class FailurePolicyConformance:
    """Failure-policy checks every backend must pass (a part of ``BackendConformance``)."""

    supports_timeout: ClassVar[bool] = True
    #: False to skip the test that kills a worker (run it on one setup of a cluster
    #: backend whose workers take long to restart)
    crash_tests: ClassVar[bool] = True

    def capabilities(self) -> Backend:  # provided by BackendConformance
        raise NotImplementedError

    # failure policy: on_error, retries, crashes, timeouts (docs/errors.md)
    @pytest.mark.parametrize("return_as", ["list", "generator", "generator_unordered"])
    def test_on_error_collect(self, configured: None, return_as: str) -> None:
        out = list(
            Parallel(on_error="collect", return_as=return_as)(
                delayed(_tasks().fail_on)(i, 3) for i in range(12)
            )
        )
        errors = [r for r in out if isinstance(r, TaskError)]
        assert len(out) == 12 and len(errors) == 1
        (error,) = errors
        assert error.index == 3 and error.function == "fail_on" and error.attempts == 1
        assert isinstance(error.exception, ValueError) and "bad value 3" in error.traceback
        with pytest.raises(ValueError, match="bad value 3"):
            error.reraise()
        done = sorted(r for r in out if not isinstance(r, TaskError))
        assert done == [i for i in range(12) if i != 3]
        if return_as != "generator_unordered":
            assert out.index(error) == 3

    @pytest.mark.parametrize("return_as", ["list", "generator", "generator_unordered"])
    def test_on_error_skip(self, configured: None, return_as: str) -> None:
        with pytest.warns(UserWarning, match=r"2 task\(s\) failed.*task \d+ \(fail_on\)"):
            out = list(
                Parallel(on_error="skip", return_as=return_as)(
                    delayed(_tasks().fail_on)(i % 6, 5) for i in range(12)
                )
            )
        assert sorted(out) == sorted(i % 6 for i in range(12) if i % 6 != 5)

    def test_retries_run_a_flaky_task_again(self, configured: None, tmp_path: Path) -> None:
        paths = [str(tmp_path / f"runs-{i}") for i in range(3)]
        out = Parallel(retries=2)(
            delayed(fail_until)(p, 2 if i == 1 else 0) for i, p in enumerate(paths)
        )
        assert out == [1, 3, 1]
        # one retry is not enough for two failures: collected with its attempts
        path = str(tmp_path / "runs-again")
        (error,) = Parallel(retries=1, on_error="collect")([delayed(fail_until)(path, 2)])
        assert isinstance(error, TaskError) and error.attempts == 2
        assert Path(path).read_text() == "xx"

    def test_retry_on_chooses_what_is_retried(self, configured: None, tmp_path: Path) -> None:
        path = str(tmp_path / "runs")
        with pytest.raises(ValueError, match="flaky failure 1"):
            Parallel(retries=3, retry_on=KeyError)([delayed(fail_until)(path, 1)])
        assert Path(path).read_text() == "x"

    def test_a_retry_runs_on_another_worker(self, configured: None, tmp_path: Path) -> None:
        # where the backend can choose (can_avoid_workers: it places work, and has more
        # than one place), the retry runs elsewhere; else wherever the backend puts it
        path = tmp_path / "first-worker"
        (second,) = Parallel(retries=1)([delayed(fail_first_run)(str(path))])
        if self.capabilities().can_avoid_workers:
            assert second != path.read_text()

    def test_a_dead_worker_is_named_and_collected(self, configured: None) -> None:
        backend = self.capabilities()
        if not backend.serializes or backend.uses_threads:
            pytest.skip("tasks run in the caller's process: a task cannot end a worker alone")
        if not self.crash_tests:
            pytest.skip("crash tests run on another setup of this backend")
        out = Parallel(on_error="collect", batch_size=1)(delayed(exit_on)(i, 2) for i in range(5))
        for i, result in enumerate(out):
            # an engine may charge a death to the tasks queued on that worker too (dask's
            # KilledWorker does): those come back as crashes, never as wrong results
            if i != 2 and isinstance(result, TaskError):
                assert isinstance(result.exception, WorkerCrashedError)
            else:
                assert i == 2 or result == i
        error = out[2]
        assert isinstance(error, TaskError) and isinstance(error.exception, WorkerCrashedError)
        assert "task 2 (exit_on(2, 2))" in str(error.exception)
        assert Parallel()(delayed(_tasks().square)(i) for i in range(4)) == [0, 1, 4, 9]

    def test_timeout_under_collect_goes_on(self, configured: None) -> None:
        if not self.supports_timeout:
            pytest.skip("this backend runs tasks in the caller; timeout does not apply")
        with warnings.catch_warnings():
            # a backend that cannot interrupt a task says it goes on in the background
            warnings.filterwarnings("ignore", "task 1 .* goes on running", UserWarning)
            out = Parallel(timeout=1.5, on_error="collect")(
                delayed(_tasks().sleep_then)(i, 3.0 if i == 1 else 0) for i in range(6)
            )
        assert [r for i, r in enumerate(out) if i != 1] == [0, 2, 3, 4, 5], out
        assert isinstance(out[1], TaskError) and isinstance(out[1].exception, TaskTimeoutError)
        assert isinstance(out[1].exception, TimeoutError)
        assert Parallel()(delayed(_tasks().square)(i) for i in range(3)) == [0, 1, 4]


def _tasks() -> Any:
    """parjob.testing, whose task functions these tests share (imported late: it imports
    this module)."""
    from parjob import testing

    return testing
