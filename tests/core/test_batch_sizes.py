"""How the runner sizes batches: timed from the workers, and shrinking at the end of the
input (when its length is known, or once the end of a generator has been read ahead)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from parjob import Parallel, delayed, register_parallel_backend
from parjob.backends.threads import ThreadingBackend
from parjob.batching import Batcher
from parjob.feed import Feed
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


def test_known_length_batches_shrink_towards_the_end() -> None:
    batcher = Batcher("auto", n_jobs=2, target_seconds=0.1, total=1000)
    batcher.record(1, 0.001)  # 1 ms a task: up to 8 (growth) then 100 a batch
    batcher.record(8, 0.008)
    batcher.record(64, 0.064)
    assert batcher.next_size(0) == 100
    assert batcher.next_size(900) == 50  # a worker's share of the last 100
    assert batcher.next_size(990) == 12  # never below an eighth of the timed size


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
    assert [next(results) for _ in range(3)] == [0, 1, 2]
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
