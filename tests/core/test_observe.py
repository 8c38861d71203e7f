"""Watching a call: progress bars, nesting, observers that fail, last_run and its timeline."""

from __future__ import annotations

import builtins
import io
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from parjob import Parallel, delayed, parallel_config
from parjob.bars import PlainLine
from parjob.hookspecs import hookimpl
from parjob.observe import BatchInfo, add_observer, remove_observer
from parjob.progress import Progress
from parjob.testing import sleep_then, square
from parjob.testing_observe import Recording


class FakeBar:
    """A tqdm-like class that records how it is used."""

    made: list[FakeBar] = []

    def __init__(self, total: Any = None, **kwargs: Any) -> None:
        self.total = total
        self.kwargs = kwargs
        self.n = 0
        self.closed = False
        FakeBar.made.append(self)

    def update(self, n: int) -> None:
        self.n += n

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_tqdm(monkeypatch: pytest.MonkeyPatch) -> list[FakeBar]:
    FakeBar.made = []
    monkeypatch.setattr("parjob.bars._tqdm", lambda: FakeBar)
    return FakeBar.made


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_progress_true_uses_tqdm_and_counts_tasks(fake_tqdm: list[FakeBar], n_jobs: int) -> None:
    Parallel(n_jobs=n_jobs, backend="threading", progress=True)(
        [delayed(square)(i) for i in range(100)]
    )
    (bar,) = fake_tqdm
    assert bar.total == 100 and bar.n == 100 and bar.closed
    assert bar.kwargs["unit"] == "task"


def test_a_generator_input_gets_its_total_at_the_end(fake_tqdm: list[FakeBar]) -> None:
    Parallel(n_jobs=2, backend="threading", progress=True)(delayed(square)(i) for i in range(50))
    (bar,) = fake_tqdm
    assert bar.total == 50 and bar.n == 50


def test_a_tqdm_class_and_a_bar_object(fake_tqdm: list[FakeBar]) -> None:
    Parallel(n_jobs=2, backend="threading", progress=FakeBar)(
        [delayed(square)(i) for i in range(10)]
    )
    assert fake_tqdm[-1].n == 10 and fake_tqdm[-1].closed
    mine = FakeBar(total=20)
    for _ in range(2):  # one bar across two calls: advanced, left open
        Parallel(n_jobs=2, backend="threading", progress=mine)(
            [delayed(square)(i) for i in range(10)]
        )
    assert mine.n == 20 and not mine.closed


def test_progress_true_picks_tqdm() -> None:
    import tqdm

    from parjob.bars import _tqdm

    assert issubclass(_tqdm(), tqdm.tqdm)


def test_the_plain_line_when_tqdm_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_tqdm(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    Parallel(n_jobs=2, backend="threading", progress=True)([delayed(square)(i) for i in range(30)])
    last = err.getvalue().splitlines()[-1]
    assert last.startswith("parjob threading: 30/30 tasks 100%") and "tasks/s" in last


def test_the_plain_line_says_why_it_stopped() -> None:
    out = io.StringIO()
    line = PlainLine(10, "loky", out=out)
    line.batch(None, BatchInfo(0, 4, 0.1, "", 0.0, 4, 10))  # type: ignore[arg-type]
    line.finished(None, None, "ValueError: bad")  # type: ignore[arg-type]
    assert out.getvalue().rstrip().endswith("| stopped: ValueError: bad")
    assert "4/10 tasks" in out.getvalue()


def inner_with_bar(n: int) -> int:
    return sum(
        Parallel(n_jobs=2, backend="threading", progress=True)(delayed(square)(i) for i in range(n))
    )


def inner_inline_with_bar(n: int) -> int:
    return sum(Parallel(n_jobs=1, progress=True)(delayed(square)(i) for i in range(n)))


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("inner", [inner_with_bar, inner_inline_with_bar])
def test_nested_calls_show_only_the_outer_bar(
    fake_tqdm: list[FakeBar], n_jobs: int, inner: Any
) -> None:
    out = Parallel(n_jobs=n_jobs, backend="threading", progress=True)(
        delayed(inner)(n) for n in range(1, 6)
    )
    assert out == [sum(i * i for i in range(n)) for n in range(1, 6)]
    assert len(fake_tqdm) == 1 and fake_tqdm[0].n == 5
    # once the outer bar is closed, a call shows its own again
    Parallel(n_jobs=1, progress=True)([delayed(square)(1)])
    assert len(fake_tqdm) == 2


def test_progress_from_parallel_config(fake_tqdm: list[FakeBar]) -> None:
    with parallel_config("threading", n_jobs=2, progress=True):
        Parallel()([delayed(square)(i) for i in range(5)])
        Parallel(progress=False)([delayed(square)(i) for i in range(5)])
    assert len(fake_tqdm) == 1


@pytest.mark.parametrize("bad", ["yes", 3, 1.5])
def test_a_bad_progress_value_is_named(bad: Any) -> None:
    with pytest.raises(TypeError, match=repr(bad)):
        Parallel(progress=bad)
    with pytest.raises(TypeError, match=repr(bad)):
        parallel_config(progress=bad)


def test_nobody_watching_builds_nothing() -> None:
    progress = Progress(0, 2)
    assert not progress.watched and progress.call is None


def test_a_failing_observer_is_dropped_with_a_warning() -> None:
    def broken(done: int, total: Any) -> None:
        raise RuntimeError("observer bug")

    with pytest.warns(UserWarning, match="observer bug"):
        out = Parallel(n_jobs=2, backend="threading", progress=broken)(
            delayed(square)(i) for i in range(10)
        )
    assert out == [i * i for i in range(10)]


class Failing:
    @hookimpl
    def batch_finished(self, call: Any, batch: Any) -> None:
        raise KeyError("telemetry down")


def test_a_failing_plugin_never_ends_a_run() -> None:
    plugin = Failing()
    add_observer(plugin)
    try:
        with pytest.warns(UserWarning, match="telemetry down"):
            assert Parallel(n_jobs=1)([delayed(square)(3)] * 3) == [9] * 3
    finally:
        remove_observer(plugin)


def test_task_failed_reaches_the_hooks_and_the_summary() -> None:
    # the runner reports failures through Progress.task_failed (on_error/retries use it)
    recording = Recording()
    seen: list[tuple[int, bool]] = []

    class Failures:
        @hookimpl
        def task_failed(self, index: int, attempt: int, retrying: bool) -> None:
            seen.append((index, retrying))

    plugin = Failures()
    add_observer(recording)
    add_observer(plugin)
    try:
        progress = Progress(0, 2, 10, backend="threading")
        progress.begin()
        progress.task_failed(3, square, ValueError("x"), 1, True)
        progress.task_failed(3, square, ValueError("x"), 2, False)
        progress.finish()
    finally:
        remove_observer(plugin)
        remove_observer(recording)
    assert seen == [(3, True), (3, False)]
    summary = progress.summary()
    assert (summary.failures, summary.retries) == (1, 1)
    assert "failures: 1, retries: 1" in str(summary)


def test_inline_slowest_tasks_and_where_time_went() -> None:
    # a generator's consumer gets results one by one: each task is timed on its own
    parallel = Parallel(n_jobs=1, progress=lambda done, total: None, return_as="generator")
    delays = [0.0, 0.03, 0.0, 0.06, 0.0]
    list(parallel(delayed(sleep_then)(i, d) for i, d in enumerate(delays)))
    run = parallel.last_run
    assert run is not None and run.tasks == 5
    assert [task.index for task in run.slowest[:2]] == [3, 1]
    assert run.slowest[0].call == "sleep_then(3, 0.06)"
    (worker,) = run.workers.values()
    assert worker.working >= 0.09 and worker.starting <= run.elapsed


def test_inline_tasks_in_a_list_are_timed_in_groups() -> None:
    parallel = Parallel(n_jobs=1, progress=lambda done, total: None)
    parallel(delayed(sleep_then)(i, 0.0) for i in range(1000))
    run = parallel.last_run
    assert run is not None and run.tasks == 1000 and run.batches < 100
    assert sum(size * count for size, count in run.batch_sizes.items()) == 1000
    assert any("average of" in task.call for task in run.slowest)


def test_slowest_tasks_of_one_task_batches_keep_their_arguments() -> None:
    parallel = Parallel(n_jobs=2, backend="threading", batch_size=1)
    parallel(delayed(sleep_then)("x" * 1000, 0.05 if i == 2 else 0.0) for i in range(6))
    slowest = parallel.last_run.slowest[0]  # type: ignore[union-attr]
    assert slowest.index == 2 and slowest.tasks == 1
    assert slowest.call.startswith("sleep_then('xxx") and len(slowest.call) <= 80


def test_a_generator_closed_early_says_so() -> None:
    parallel = Parallel(n_jobs=2, backend="threading", return_as="generator")
    out = parallel(delayed(sleep_then)(i, 0.001) for i in range(100))
    next(out)
    assert parallel.last_run is None  # still running
    out.close()
    assert parallel.last_run is not None and "closed" in str(parallel.last_run.error)


def test_timeline_text_and_picture(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    parallel = Parallel(n_jobs=2, backend="threading", batch_size=2)
    parallel(delayed(sleep_then)(i, 0.005) for i in range(20))
    run = parallel.last_run
    assert run is not None
    rows = run.timeline_text(width=40).splitlines()
    assert len(rows) == len(run.workers) + 1 and all("#" in row for row in rows[:-1])
    path = run.plot_timeline(tmp_path / "timeline.png")
    assert Path(path).stat().st_size > 1000
    figure = run.plot_timeline()
    assert len(figure.axes) == 1


def test_verbose_still_prints_with_a_bar(fake_tqdm: list[FakeBar], capsys: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Parallel(n_jobs=2, backend="threading", verbose=10, progress=True)(
            [delayed(time.sleep)(0.001) for _ in range(10)]
        )
    assert capsys.readouterr().err.rstrip().endswith("finished")
    assert fake_tqdm[0].n == 10


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_parallel_is_freed_without_the_garbage_collector(
    n_jobs: int, fake_tqdm: list[FakeBar]
) -> None:
    # last_run must not tie the Parallel into a cycle: a backend it holds would then live
    # (and keep its workers) until the collector runs
    import gc
    import weakref

    gc.disable()
    try:
        parallel = Parallel(n_jobs=n_jobs, backend="threading", verbose=1, progress=True)
        parallel(delayed(square)(i) for i in range(20))
        assert parallel.last_run is not None
        ref = weakref.ref(parallel)
        del parallel
        assert ref() is None
    finally:
        gc.enable()


def test_past_the_timeline_s_batches_the_totals_still_count_every_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from parjob import summary

    monkeypatch.setattr(summary, "MAX_SPANS", 3)
    parallel = Parallel(n_jobs=2, backend="threading", batch_size=1)
    assert parallel(delayed(square)(i) for i in range(10)) == [i * i for i in range(10)]
    run = parallel.last_run
    assert run is not None
    assert (run.tasks, run.batches, run.batch_sizes) == (10, 10, {1: 10})
    assert len(run.spans) == 3 and run.spans_dropped == 7
    assert sum(w.batches for w in run.workers.values()) == 10
    assert sum(w.tasks for w in run.workers.values()) == 10
