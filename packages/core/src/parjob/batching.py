"""How many tasks go in the next batch.

With ``batch_size="auto"`` the size adapts to the measured time per task, so that each
batch runs for about the backend's ``target_batch_seconds``: tiny tasks are grouped until
per-batch overhead no longer shows, slow tasks go one by one for good load balance. Sizes
grow at most eightfold per step and shrink at once.

Before any batch has been timed, the first batches hold a few tasks each and carry a time
budget: a worker stops such a batch once the budget is spent and returns what it ran, and
the runner sends the rest again, sized from that timing. So a first wave of tasks that
take a few milliseconds is not a row of single-task round trips, and a first wave of tasks
that take minutes does not pile several of them on one worker. A short input (up to
``pre_dispatch`` batches of ``_FIRST_MAX`` tasks, and ``_FIRST_READ`` tasks in all) goes
out whole in that first wave, in equal batches: on a cluster, where each batch costs a
scheduler round trip, a hundred tasks of a few milliseconds are then four batches, not ten.
When earlier calls of the same function measured its tasks (``parjob.tasktimes``), that
first wave has no more batches than it takes for each to hold about a batch's overhead in
work (``_OVERHEAD_SHARE`` of the target): four tasks of a microsecond are one batch.

When the number of tasks is known (or the end of the input has been read), batches
shrink towards the end so that the workers finish together. They go out in rounds of
``n_jobs`` equal batches, each round taking half of what is left ("factoring"): backends
that queue a batch or two on each worker in advance (dask, loky) still get equal shares,
and the last, small rounds even out the differences in speed between workers.
"""

from __future__ import annotations

import math

_GROWTH = 8
#: in the last rounds, batches keep at least this fraction of the timed size: smaller ones
#: would cost more in per-batch overhead than they save in balance
_SHRINK = 4
_MAX_AUTO = 100_000
#: tasks in each batch sent before any timing (with a budget)
_FIRST_SIZE = 8
#: the most tasks in such a batch when the whole input fits in the first wave
_FIRST_MAX = 32
#: the most tasks read ahead of the first dispatch, to see whether an input is that short
_FIRST_READ = 256
#: that budget, in units of the backend's target batch time
_BUDGET_TARGETS = 2
#: about what one batch costs beyond its tasks, as a share of the target batch time (the
#: targets are set a few hundred times a backend's per-batch overhead)
_OVERHEAD_SHARE = 1e-3


class Batcher:
    """Chooses batch sizes from the time tasks took in the workers."""

    def __init__(
        self,
        batch_size: int | str,
        n_jobs: int,
        target_seconds: float,
        total: int | None = None,
        timeout: float | None = None,
        probe: bool = True,
        cap: int | None = None,
        prior: float | None = None,
    ) -> None:
        #: the most tasks in any batch (``max_tasks_per_worker``: a batch must fit a worker)
        # (conditionals rather than min() and max(), which are slow to call: per call)
        self.cap = cap if cap is not None and cap < _MAX_AUTO else _MAX_AUTO
        self.fixed = min(batch_size, self.cap) if isinstance(batch_size, int) else None
        self.n_jobs = n_jobs
        #: the batches the default pre_dispatch keeps in flight
        self.waves = 2 * n_jobs
        self.target = target_seconds if timeout is None else min(target_seconds, timeout / 4)
        self.total: int | None = None
        #: probe with budgeted batches of a few tasks: not with a timeout, whose clock
        #: must cover whole batches, nor when the caller asks for single first tasks
        #: (say, to bound memory by pre_dispatch batches of one task, as joblib does)
        self.probing = probe and self.fixed is None and timeout is None
        self.size = (_FIRST_SIZE if self.cap > _FIRST_SIZE else self.cap) if self.probing else 1
        self.seconds_per_task: float | None = None
        #: the time budget of the next batch: set until a batch has been timed
        self.budget = _BUDGET_TARGETS * self.target if self.probing else None
        #: seconds per task measured by earlier calls of the same function (a hint for the
        #: first wave only: it is not a timing of this call's tasks)
        self.prior = prior if self.probing else None
        self._piece = 0  # the batch size of the current round
        self._round_left = 0  # batches of that size still to send
        if total is not None:
            self.learn_total(total)

    @property
    def first_wave(self) -> int:
        """How many tasks to read before the first dispatch: a short input goes out whole."""
        if self.budget is None:  # timed, or not probing: batches are sized as usual
            return 0
        return min(self.waves * _FIRST_MAX, _FIRST_READ)

    def learn_total(self, total: int) -> None:
        """The input holds ``total`` tasks: size the rest of the batches from it."""
        self.total = total
        if self.budget is not None:
            # equal budgeted first batches: the whole input when it is short, else a few
            # tasks each (fewer when there are that many workers)
            batches = self.waves
            short = total <= batches * _FIRST_MAX and total <= _FIRST_READ  # the first wave
            largest = _FIRST_MAX if short else _FIRST_SIZE
            if short and self.prior is not None:  # no batch worth less than its overhead
                worth = int(total * self.prior / (self.target * _OVERHEAD_SHARE))
                if worth < batches:
                    batches = worth if worth > 1 else 1
            size = math.ceil(total / batches)
            if size > largest:
                size = largest
            if size > self.cap:
                size = self.cap
            self.size = size if size > 1 else 1

    def next_size(self, dispatched: int) -> int:
        if self.fixed is not None:
            return self.fixed
        size = self.size
        if self.total is None or self.budget is not None:
            return size  # nothing timed yet: rounds are sized from timings
        if self._round_left == 0:
            remaining = self.total - dispatched
            piece = math.ceil(remaining / (2 * self.n_jobs))
            if piece < max(size // _SHRINK, 1):  # the last round: the rest, shared equally
                piece = math.ceil(remaining / self.n_jobs)
            self._piece = max(piece, 1)
            self._round_left = self.n_jobs
        self._round_left -= 1
        return min(size, self._piece)

    def record(self, tasks: int, seconds: float) -> None:
        """A batch of ``tasks`` ran for ``seconds`` in its worker."""
        if self.fixed is not None or tasks == 0:
            return
        observed = seconds / tasks
        estimate = self.seconds_per_task
        estimate = observed if estimate is None else 0.5 * (estimate + observed)
        self.seconds_per_task = estimate
        self.budget = None
        wanted = int(self.target / estimate) if estimate > 0 else _MAX_AUTO
        size = self.size * _GROWTH
        if wanted < size:
            size = wanted
        if self.cap < size:
            size = self.cap
        self.size = size if size > 1 else 1

    def expected_seconds(self, tasks: int) -> float:
        """How long a batch of ``tasks`` should take, from what was measured so far."""
        return (self.seconds_per_task or 0.0) * tasks
