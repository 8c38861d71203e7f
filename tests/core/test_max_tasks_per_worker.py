"""``max_tasks_per_worker=`` in the core: checked early, refused where it cannot apply,
and no batch larger than a worker may run."""

from __future__ import annotations

import pytest

from parjob import Parallel, parallel_config
from parjob.batching import Batcher


def test_batches_never_exceed_the_cap() -> None:
    batcher = Batcher("auto", 2, 0.1, total=100_000, cap=7)
    assert batcher.size <= 7
    for _ in range(10):
        batcher.record(1000, 0.0001)  # tiny tasks: auto sizing would grow fast
    sizes = [batcher.next_size(n) for n in range(0, 1000, 10)]
    assert max(sizes) <= 7 and batcher.size == 7
    assert Batcher(50, 2, 0.1, cap=7).next_size(0) == 7
    assert Batcher(3, 2, 0.1, cap=7).next_size(0) == 3


def test_the_config_block_shows_and_carries_it() -> None:
    with parallel_config() as shown:
        assert shown["max_tasks_per_worker"] is None
    with parallel_config("threading", max_tasks_per_worker=3) as shown:
        assert shown["max_tasks_per_worker"] == 3
        with pytest.raises(ValueError, match="max_tasks_per_worker=3 needs a backend"):
            Parallel(n_jobs=2)


def test_the_error_names_the_backend_and_those_that_can() -> None:
    with pytest.raises(ValueError) as caught:
        Parallel(n_jobs=2, backend="threading", max_tasks_per_worker=10)
    message = str(caught.value)
    assert "'threading'" in message and "loky" in message and "multiprocessing" in message
