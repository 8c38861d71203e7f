"""on_error / retries / retry_on / retry_delay: checks, inline runs, retry timing, hooks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from parjob import Parallel, delayed, parallel_config
from parjob.backends.threads import ThreadingBackend
from parjob.errors import TaskError, WorkerCrashedError
from parjob.policy import MAX_RETRY_DELAY, Policy
from parjob.progress import Progress
from parjob.sweep import sweep
from parjob.testing import fail_on, fail_until, square


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"on_error": "ignore"}, "on_error must be one of 'raise', 'collect', 'skip'"),
        ({"retries": -1}, "retries must be an int >= 0"),
        ({"retries": 1.5}, "retries must be an int >= 0"),
        ({"retries": True}, "retries must be an int >= 0"),
        ({"retry_delay": -1}, "retry_delay must be a number of seconds >= 0"),
        ({"retry_delay": float("nan")}, "retry_delay must be"),
    ],
)
def test_bad_values_are_refused_before_any_work(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Parallel(n_jobs=2, **kwargs)
    with pytest.raises(ValueError, match=match):
        parallel_config(**kwargs)


@pytest.mark.parametrize("retry_on", [ValueError(), "ValueError", (), (ValueError, int)])
def test_retry_on_takes_exception_types(retry_on: Any) -> None:
    with pytest.raises(TypeError, match="retry_on must be an exception type"):
        Parallel(retry_on=retry_on)


def test_config_block_sets_the_policy() -> None:
    with parallel_config(on_error="collect", retries=2, retry_on=KeyError, retry_delay=0.5):
        policy = Parallel().policy
    assert policy == Policy("collect", 2, (KeyError,), 0.5)
    assert Parallel().policy.is_default


def test_delay_doubles_up_to_a_minute() -> None:
    policy = Policy(retries=20, retry_delay=0.5)
    assert [policy.delay(k) for k in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert policy.delay(20) == MAX_RETRY_DELAY
    assert Policy(retries=3).delay(2) == 0.0


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("return_as", ["list", "generator", "generator_unordered"])
def test_collect_inline_and_threads(n_jobs: int, return_as: str) -> None:
    out = list(
        Parallel(n_jobs=n_jobs, backend="threading", on_error="collect", return_as=return_as)(
            delayed(fail_on)(i, 2) for i in range(5)
        )
    )
    assert len(out) == 5
    errors = [r for r in out if isinstance(r, TaskError)]
    assert [e.index for e in errors] == [2]
    assert "TaskError task 2 (fail_on): ValueError" in repr(errors[0])


def test_retries_inline_wait_between_attempts(tmp_path: Path) -> None:
    path = str(tmp_path / "runs")
    started = time.monotonic()
    assert Parallel(n_jobs=1, retries=2, retry_delay=0.05)([delayed(fail_until)(path, 2)]) == [3]
    assert time.monotonic() - started >= 0.05 + 0.1  # 0.05, then 0.1 (doubled)


def test_retries_on_workers_wait_between_attempts(tmp_path: Path) -> None:
    path = str(tmp_path / "runs")
    started = time.monotonic()
    out = Parallel(n_jobs=2, backend="threading", retries=1, retry_delay=0.1)(
        [delayed(fail_until)(path, 1), delayed(square)(3)]
    )
    assert out == [2, 9]
    assert time.monotonic() - started >= 0.1


def test_raise_after_the_retries_are_spent(tmp_path: Path) -> None:
    path = str(tmp_path / "runs")
    with pytest.raises(ValueError, match="flaky failure 2"):
        Parallel(n_jobs=2, backend="threading", retries=1)(
            [delayed(fail_until)(path, 5), delayed(square)(2)]
        )


class _Recorder(Progress):
    calls: list[tuple[Any, ...]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watched = True  # as with an observer: failures come with their exception

    def task_failed(self, *args: Any) -> None:
        _Recorder.calls.append(args)


def test_every_failure_is_reported_to_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import parjob.parallel

    monkeypatch.setattr(parjob.parallel, "Progress", _Recorder)
    _Recorder.calls = []
    path = str(tmp_path / "runs")
    out = Parallel(n_jobs=2, backend="threading", retries=1, on_error="collect")(
        [delayed(fail_until)(path, 5), delayed(square)(2)]
    )
    assert isinstance(out[0], TaskError) and out[1] == 4
    assert [(c[0], c[1], type(c[2]).__name__, c[3], c[4]) for c in _Recorder.calls] == [
        (0, "fail_until", "ValueError", 1, True),
        (0, "fail_until", "ValueError", 2, False),
    ]


def test_task_error_pickles() -> None:
    import pickle

    (error,) = Parallel(n_jobs=2, on_error="collect")([delayed(fail_on)(1, 1)])
    again = pickle.loads(pickle.dumps(error))
    assert (again.index, again.function, again.attempts) == (0, "fail_on", 1)
    assert isinstance(again.exception, ValueError)


def test_stale_folders_of_dead_processes_are_swept(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(gone.stdout)
    (tmp_path / f"parjob-workers-{dead}-abc").mkdir()
    (tmp_path / f"parjob-workers-{os.getpid()}-mine").mkdir()
    (tmp_path / "parjob-workers-notapid").mkdir()
    removed = sweep(str(tmp_path), "parjob-workers-")
    assert removed == [str(tmp_path / f"parjob-workers-{dead}-abc")]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"parjob-workers-{os.getpid()}-mine", "parjob-workers-notapid"]
    )


@pytest.mark.parametrize("return_as", ["list", "generator", "generator_unordered"])
def test_retries_in_every_return_form(return_as: str, tmp_path: Path) -> None:
    # results held back behind a retry (ordered, bounded by pre_dispatch) must not stall it
    paths = [str(tmp_path / f"runs-{i}") for i in range(24)]
    out = list(
        Parallel(
            n_jobs=2,
            backend="threading",
            return_as=return_as,
            retries=2,
            retry_delay=0.01,
            on_error="collect",
            pre_dispatch=2,
            batch_size=2,
        )(delayed(fail_until)(path, i % 4) for i, path in enumerate(paths))
    )
    shown = [r if isinstance(r, int) else "E" for r in out]
    expected = [1, 2, 3, "E"] * 6
    if return_as == "generator_unordered":
        shown, expected = sorted(map(str, shown)), sorted(map(str, expected))
    assert shown == expected


class _BreaksAfterTwo(ThreadingBackend):
    """Threads whose pool refuses every batch after the first two, at submit (as a
    concurrent.futures pool does once a worker died)."""

    name = "breaks-after-two"

    def __init__(self) -> None:
        super().__init__()
        self.taken = 0

    def submit(self, work: Any) -> Any:
        self.taken += 1
        if self.taken > 2:
            raise BrokenProcessPool("a child process terminated abruptly")
        return super().submit(work)


def test_batches_a_broken_pool_refuses_are_collected_as_crashes() -> None:
    out = Parallel(n_jobs=2, backend=_BreaksAfterTwo(), batch_size=1, on_error="collect")(
        delayed(square)(i) for i in range(5)
    )
    assert out[:2] == [0, 1]  # sent before the pool broke: they ran
    assert all(isinstance(error, TaskError) for error in out[2:])
    assert all(isinstance(error.exception, WorkerCrashedError) for error in out[2:])
    assert "BrokenProcessPool" in str(out[2].exception)


def test_a_refused_batch_still_raises_at_once_by_default() -> None:
    with pytest.raises(BrokenProcessPool):
        Parallel(n_jobs=2, backend=_BreaksAfterTwo(), batch_size=1)(
            delayed(square)(i) for i in range(5)
        )
