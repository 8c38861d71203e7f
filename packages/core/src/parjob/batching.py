"""How many tasks go in the next batch.

With ``batch_size="auto"`` the size adapts to the measured time per task, so that each
batch runs for about the backend's ``target_batch_seconds``: tiny tasks are grouped until
per-batch overhead no longer shows, slow tasks go one by one for good load balance. The
first batch holds one task; sizes grow at most eightfold per step and shrink at once.
When the number of tasks is known (or the end of the input has been read), batches
shrink towards the end so that the workers finish together.
"""

from __future__ import annotations

import math

_GROWTH = 8
_SHRINK = 8
_MAX_AUTO = 100_000


class Batcher:
    """Chooses batch sizes from the time tasks took in the workers."""

    def __init__(
        self,
        batch_size: int | str,
        n_jobs: int,
        target_seconds: float,
        total: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.fixed = batch_size if isinstance(batch_size, int) else None
        self.n_jobs = n_jobs
        self.target = target_seconds if timeout is None else min(target_seconds, timeout / 4)
        self.total = total
        self.size = 1
        self.seconds_per_task: float | None = None

    def next_size(self, dispatched: int) -> int:
        if self.fixed is not None:
            return self.fixed
        size = self.size
        if self.total is not None:
            # keep the tail balanced: no batch larger than a worker's share of what is
            # left, so batches shrink towards the end; but not below an eighth of the
            # timed size, where per-batch overhead would cost more than the imbalance
            share = math.ceil((self.total - dispatched) / self.n_jobs)
            size = min(size, max(share, size // _SHRINK, 1))
        return size

    def record(self, tasks: int, seconds: float) -> None:
        """A batch of ``tasks`` ran for ``seconds`` in its worker."""
        if self.fixed is not None or tasks == 0:
            return
        observed = seconds / tasks
        estimate = self.seconds_per_task
        estimate = observed if estimate is None else 0.5 * (estimate + observed)
        self.seconds_per_task = estimate
        wanted = int(self.target / estimate) if estimate > 0 else _MAX_AUTO
        self.size = max(1, min(wanted, self.size * _GROWTH, _MAX_AUTO))

    def expected_seconds(self, tasks: int) -> float:
        """How long a batch of ``tasks`` should take, from what was measured so far."""
        return (self.seconds_per_task or 0.0) * tasks
