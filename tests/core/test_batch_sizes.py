"""How the runner sizes batches: timed from the workers, and shrinking at the end of the
input (when its length is known, or once the end of a generator has been read ahead)."""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from parjob import Parallel, delayed, register_parallel_backend
from parjob.backend import Backend, RunSettings
from parjob.backends.threads import ThreadingBackend
from parjob.batching import Batcher
from parjob.feed import Feed
from parjob.progress import Progress
from parjob.runner import Run
from parjob.tasks import Batch


class RecordingBackend(ThreadingBackend):
    """Threads, noting the size of each batch it is given."""

    name = "recording"
    sizes: list[int] = []

    def submit(self, work):  # type: ignore[no-untyped-def]
        assert isinstance(work, Batch)
        RecordingBackend.sizes.append(len(work))
        return super().submit(work)


@pytest.fixture
def sizes() -> Iterator[list[int]]:
    register_parallel_backend("recording", RecordingBackend)
    RecordingBackend.sizes = []
    yield RecordingBackend.sizes


def nap(x: int) -> int:
    time.sleep(0.002)
    return x


def produce(n: int, read: list[int]) -> Iterator[tuple]:
    for i in range(n):
        read.append(i)
        yield delayed(nap)(i)


def test_known_length_batches_shrink_towards_the_end_in_rounds() -> None:
    batcher = Batcher("auto", n_jobs=2, target_seconds=0.1, total=1000)
    batcher.record(8, 0.008)  # 1 ms a task: grows towards 100 a batch
    batcher.record(64, 0.064)
    sizes: list[int] = []
    while sum(sizes) < 1000:
        sizes.append(batcher.next_size(sum(sizes)))
    assert sum(sizes) == 1000 and sizes[0] == 100
    assert sizes == sorted(sizes, reverse=True)  # shrinking towards the end
    # a round is n_jobs batches of one size, so workers that queue ahead get equal shares
    assert all(sizes[k] == sizes[k + 1] for k in range(0, len(sizes), 2))
    assert sizes[-1] < 100 and min(sizes) >= 100 // 4  # never below a quarter of the timed size


def test_before_any_timing_batches_hold_a_few_tasks_under_a_time_budget() -> None:
    batcher = Batcher("auto", n_jobs=2, target_seconds=0.1)
    assert batcher.next_size(0) > 1 and batcher.budget == pytest.approx(0.2)
    batcher.record(1, 1.0)  # slow tasks: one a batch from now on, and no budget
    assert batcher.next_size(1) == 1 and batcher.budget is None
    # a fixed size, a timeout, or an explicit pre_dispatch (probe=False) start at one task
    unprobed = [Batcher(1, 2, 0.1), Batcher("auto", 2, 0.1, timeout=5)]
    for fixed in [*unprobed, Batcher("auto", 2, 0.1, probe=False)]:
        assert fixed.budget is None and fixed.next_size(0) == 1


def test_a_short_input_goes_out_whole_in_equal_first_batches() -> None:
    # pre_dispatch (2 * n_jobs) batches cover it: one scheduler round trip per worker share
    # 1000 tasks: too long, a few tasks each; on 64 workers, fewer, so that all get some
    cases = [(2, 100, 25), (2, 10, 3), (2, 1000, 8), (64, 300, 3), (64, 600, 5)]
    for n_jobs, total, first in cases:
        batcher = Batcher("auto", n_jobs=n_jobs, target_seconds=0.1, total=total)
        assert [batcher.next_size(k * first) for k in range(4)] == [first] * 4
        assert batcher.budget is not None  # still under a time budget, as nothing was timed


@pytest.mark.parametrize("sized", [True, False], ids=["list", "generator"])
def test_a_short_input_of_any_kind_is_read_whole_before_the_first_dispatch(
    sizes: list[int], sized: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a budget no stall of a loaded machine can use up: no batch is handed back
    monkeypatch.setattr(RecordingBackend, "target_batch_seconds", 60.0)
    tasks = (delayed(abs)(i) for i in range(100))
    out = Parallel(n_jobs=2, backend="recording")(list(tasks) if sized else tasks)
    assert out == list(range(100)) and sizes == [25] * 4


def test_a_long_generator_is_read_only_a_first_wave_ahead(sizes: list[int]) -> None:
    read: list[int] = []
    seen: list[int] = []

    def note(x: int) -> int:
        seen.append(len(read))  # how much of the input had been read when a task ran
        return x

    Parallel(n_jobs=2, backend="recording")(delayed(note)(i) for i in produce(100_000, read))
    assert sizes[:4] == [8] * 4 and seen[0] <= 4 * 32


def test_a_budgeted_batch_stops_after_its_budget_and_keeps_it_through_pickling() -> None:
    calls: list[int] = []
    tasks = [delayed(calls.append)(i) for i in range(5)]
    assert len(Batch(0, tasks, ("sequential", 1), budget=0.0)().results) == 1
    assert len(Batch(0, tasks, ("sequential", 1), budget=60.0)().results) == 5
    assert calls == [0, 0, 1, 2, 3, 4]
    uniform = Batch(3, [delayed(abs)(-i) for i in range(5)], ("sequential", 1), budget=0.0)
    copy = pickle.loads(pickle.dumps(uniform))
    assert copy.budget == 0.0 and copy.start == 3 and copy().results == [0]


def slow_mark(x: int, ran: list[int]) -> int:
    ran.append(x)
    time.sleep(0.03)
    return x


def test_tasks_a_first_batch_did_not_reach_are_sent_again_and_run_once(
    sizes: list[int],
) -> None:
    RecordingBackend.target_batch_seconds = 0.005  # a budget of 10 ms: one slow task each
    try:
        ran: list[int] = []
        out = Parallel(n_jobs=2, backend="recording")(delayed(slow_mark)(i, ran) for i in range(20))
    finally:
        del RecordingBackend.target_batch_seconds
    assert sizes[0] > 1  # sent before any timing, with a budget
    assert sum(sizes) > 20  # tasks handed back were sent again...
    assert sorted(ran) == list(range(20))  # ...and every task ran exactly once
    assert out == list(range(20))


@pytest.mark.parametrize("return_as", ["generator", "generator_unordered"])
def test_generator_modes_start_at_one_task_a_batch(sizes: list[int], return_as: str) -> None:
    # memory is bounded by pre_dispatch batches: their first batches are as small as joblib's
    out = Parallel(n_jobs=2, backend="recording", return_as=return_as)(
        delayed(abs)(i) for i in range(20)
    )
    assert sorted(out) == list(range(20)) and sizes[0] == 1


def run_ordered(backend: Backend, target_seconds: float) -> tuple[list[int], list[int]]:
    """20 slow tasks through a Run in ordered generator mode that probes with budgeted
    first batches: (the results in the order yielded, the tasks in the order they ran)."""
    ran: list[int] = []
    run = Run(
        backend,
        2,
        iter([delayed(slow_mark)(i, ran) for i in range(20)]),
        Batcher("auto", 2, target_seconds=target_seconds, probe=True),
        limit=4,
        timeout=None,
        progress=Progress(0, 2),
        nested=("sequential", 1),
        ordered=True,
        bounded=True,
    )
    run.start()
    return [result for _, results in run.batches() for result in results], ran


def test_handed_back_tasks_keep_their_place_in_ordered_output() -> None:
    backend = ThreadingBackend()
    backend.start(2, RunSettings())
    try:
        out, ran = run_ordered(backend, target_seconds=0.005)
    finally:
        backend.stop()
    assert out == list(range(20)) and sorted(ran) == list(range(20))


def test_a_generators_end_is_read_ahead_and_its_last_batches_shrink(sizes: list[int]) -> None:
    read: list[int] = []
    out = Parallel(n_jobs=2, backend="recording")(produce(400, read))
    assert out == list(range(400))
    assert sum(sizes) == 400
    largest = max(sizes)
    assert largest > 1 and sizes[-1] < largest  # grown from timings, then shrunk at the end


def test_an_explicit_pre_dispatch_reads_no_further_ahead(sizes: list[int]) -> None:
    read: list[int] = []
    results = Parallel(n_jobs=2, backend="recording", pre_dispatch="n_jobs", return_as="generator")(
        produce(400, read)
    )
    seen = [next(results) for _ in range(3)]
    # at most the two dispatched batches (and nothing more) were read from the input
    assert seen == [0, 1, 2] and len(read) <= sum(sizes)
    results.close()


@pytest.mark.parametrize("pre_dispatch", ["2 * n_jobs", "2*n_jobs"])  # ours, and joblib's
def test_the_default_pre_dispatch_reads_slow_inputs_ahead(
    sizes: list[int], pre_dispatch: str
) -> None:
    read: list[int] = []
    results = Parallel(
        n_jobs=2, backend="recording", pre_dispatch=pre_dispatch, return_as="generator"
    )(produce(400, read))
    # past the first batch, which is sent before any timing
    assert [next(results) for _ in range(12)] == list(range(12))
    assert len(read) > sum(sizes)  # the input was read beyond what was dispatched
    results.close()


def test_the_feed_hands_out_read_ahead_tasks_first_and_finds_the_end() -> None:
    feed = Feed(iter(range(10)))  # any items: the feed does not look inside them
    assert feed.take(3) == [0, 1, 2]
    feed.read_ahead(4)
    assert feed.total is None and feed.take(2) == [3, 4]
    assert feed.take(4) == [5, 6, 7, 8]  # two from the buffer, two more from the input
    feed.read_ahead(5)  # only one task is left
    assert feed.total == 10 and not feed.empty
    assert feed.take(5) == [9] and feed.empty and feed.take(1) == []


class GroupingBackend(ThreadingBackend):
    """Threads, noting how many batches each submit_many call carries."""

    name = "grouping"
    groups: list[int] = []

    def submit_many(self, works):  # type: ignore[no-untyped-def]
        GroupingBackend.groups.append(len(works))
        return super().submit_many(works)


def test_each_fill_reaches_the_backend_as_one_submit_many() -> None:
    register_parallel_backend("grouping", GroupingBackend)
    GroupingBackend.groups = []
    out = Parallel(n_jobs=2, backend="grouping", batch_size=1)(delayed(abs)(i) for i in range(8))
    assert out == list(range(8))
    assert GroupingBackend.groups[0] == 4  # the first wave: pre_dispatch = 2 * n_jobs batches


class ReversingBackend(Backend):
    """Runs each group of batches in reverse order, after the runner is waiting for them:
    the last batch of the first wave finishes first."""

    name = "reversing"
    serializes = False
    uses_threads = True

    def submit(self, work):  # type: ignore[no-untyped-def]
        return self.submit_many([work])[0]

    def submit_many(self, works):  # type: ignore[no-untyped-def]
        futures: list[Future[Any]] = [Future() for _ in works]

        def run_reversed() -> None:
            for work, future in reversed(list(zip(works, futures, strict=True))):
                future.set_result(work())

        threading.Timer(0.02, run_reversed).start()
        return futures


def test_later_batches_handing_back_first_do_not_stall_ordered_output() -> None:
    # The first wave finishes last-to-first, each batch handing back all but one task: the
    # tasks handed back go out earliest first, so the output is complete and in order.
    out, ran = run_ordered(ReversingBackend(), target_seconds=1e-6)  # budget: 2 microseconds
    assert out == list(range(20)) and sorted(ran) == list(range(20))
