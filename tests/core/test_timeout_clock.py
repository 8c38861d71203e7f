"""A batch's timeout clock runs while it runs, not while it waits for a free worker."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from parjob import Backend, Parallel, RunSettings, delayed
from parjob.testing import sleep_then


class TwoSlots(Backend):
    """Runs two batches at once, whatever n_jobs says (like a 2-thread cluster)."""

    name = "two-slots"
    serializes = False
    local = False
    in_flight: list[int]

    def __init__(self) -> None:
        self.executor: ThreadPoolExecutor | None = None
        self.in_flight = []
        self.most = 0

    def running_at_once(self, n_jobs: int) -> int:
        return min(n_jobs, 2)

    def start(self, n_jobs: int, settings: RunSettings) -> None:
        self.executor = self.executor or ThreadPoolExecutor(2)

    def submit(self, work):  # type: ignore[no-untyped-def]
        assert self.executor is not None
        self.in_flight.append(1)
        self.most = max(self.most, len(self.in_flight))
        future: Future = self.executor.submit(work)
        future.add_done_callback(lambda _: self.in_flight.pop())
        return future

    def stop(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None

    abort = stop


def test_n_jobs_beyond_the_slots_does_not_time_out_queued_batches() -> None:
    # eight 0.5-s tasks on two slots take 2 s; with 8 batches in flight the last ones
    # would wait 1.5 s in the queue and "time out" before they started
    backend = TwoSlots()
    out = Parallel(n_jobs=8, backend=backend, timeout=1.5, batch_size=1)(
        delayed(sleep_then)(i, 0.5) for i in range(8)
    )
    assert out == list(range(8))
    assert backend.most == 2


def test_without_a_timeout_n_jobs_batches_are_in_flight() -> None:
    backend = TwoSlots()
    Parallel(n_jobs=4, backend=backend, batch_size=1, pre_dispatch="n_jobs")(
        delayed(sleep_then)(i, 0.05) for i in range(8)
    )
    assert backend.most == 4
