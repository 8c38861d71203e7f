"""A parjob backend presented to joblib as a joblib backend.

:class:`ParjobBackend` subclasses joblib's documented extension point,
``joblib.parallel.ParallelBackendBase``, and keeps to the methods its docstrings describe:
``effective_n_jobs``, ``configure``, ``submit`` (``apply_async`` before joblib 1.5),
``retrieve_result_callback``, ``compute_batch_size``, ``abort_everything``, ``terminate``
and ``get_nested_backend``. joblib still makes the batches and orders the results; each of
its batches runs as one parjob batch on the wrapped backend: pickled by the backend's own
``encode`` (so ``scatter=`` data and memory-mapped arrays are shared as in parjob), its
task's error re-raised as itself with the worker's traceback, a dead worker reported as
``WorkerCrashedError``, and aborted through the backend on errors, timeouts and Ctrl-C.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

from joblib.parallel import ParallelBackendBase

from parjob import leases, nesting, validation
from parjob.backend import Backend, RunSettings
from parjob.batching import Batcher
from parjob.selection import backend_instance
from parjob.serialization import explain
from parjob.tasks import Batch, BatchResult
from parjob_joblib.outcome import JoblibBatch, result_of
from parjob_joblib.relay import Relay

#: what joblib's Parallel passes to ``configure`` besides n_jobs, parallel, prefer, require
_JOBLIB_SETTINGS = frozenset({"temp_folder", "max_nbytes", "mmap_mode", "verbose", "context"})


class _Call:
    """One joblib call (or ``with Parallel()`` block) on a leased parjob backend."""

    __slots__ = ("backend", "dispatched", "n_jobs", "nested", "owner", "relay", "settings")

    def __init__(
        self, owner: Backend, backend: Backend, n_jobs: int, settings: RunSettings
    ) -> None:
        self.owner = owner  # the instance the lease was taken for
        self.backend = backend
        self.n_jobs = n_jobs
        self.settings = settings
        self.nested = nesting.nested_for(backend, n_jobs)
        self.dispatched = 0
        self.relay = Relay()


class ParjobBackend(ParallelBackendBase):
    """joblib backend running on the parjob backend ``backend`` (a name or an instance).

    ``backend_params`` go to the parjob backend (``scatter=``, ``client=``, ...).
    ``default_n_jobs`` is what joblib uses when neither the call nor a config block sets
    n_jobs: by default the parjob backend's own (1 for local backends, every worker for a
    cluster); a parjob ``parallel_config`` block naming a backend sets -1, as parjob does.
    """

    supports_retrieve_callback = True
    supports_inner_max_num_threads = True

    def __init__(
        self,
        backend: Any,
        nesting_level: int | None = None,
        inner_max_num_threads: int | None = None,
        *,
        default_n_jobs: int | None = None,
        **backend_params: Any,
    ) -> None:
        super().__init__(nesting_level=nesting_level, inner_max_num_threads=inner_max_num_threads)
        self._spec = (backend, backend_params)
        self._parjob: Backend = backend_instance(backend, dict(backend_params))
        self.uses_threads = self._parjob.uses_threads
        self.supports_sharedmem = self._parjob.uses_threads
        self.default_n_jobs = (
            default_n_jobs if default_n_jobs is not None else self._parjob.default_n_jobs
        )
        self._lock = threading.Lock()
        #: calls in progress on this instance, innermost last (one joblib call runs its
        #: tasks inline when n_jobs is 1, and they may call joblib again with this instance)
        self._calls: list[_Call] = []
        self._batcher: Batcher | None = None

    @property
    def parjob_backend(self) -> Backend:
        """The parjob backend instance this joblib backend runs on."""
        return self._parjob

    # -- sizing ------------------------------------------------------------------------
    def effective_n_jobs(self, n_jobs: int | None) -> int:
        if n_jobs is None:
            n_jobs = self.default_n_jobs
        checked = validation.check_n_jobs(n_jobs)
        return self._parjob.effective_n_jobs(checked if checked is not None else 1)

    def compute_batch_size(self) -> int:
        """Tasks per joblib batch (``batch_size="auto"``): sized so that a batch runs for
        about the parjob backend's ``target_batch_seconds``, from times measured in the
        workers."""
        return self._sizes().next_size(0)

    def _sizes(self) -> Batcher:
        if self._batcher is None:
            target = self._parjob.target_batch_seconds
            self._batcher = Batcher("auto", 1, target, probe=False)
        return self._batcher

    # -- a call --------------------------------------------------------------------------
    def configure(
        self,
        n_jobs: int = 1,
        parallel: Any = None,
        prefer: str | None = None,
        require: str | None = None,
        **backend_kwargs: Any,
    ) -> int:
        unknown = sorted(set(backend_kwargs) - _JOBLIB_SETTINGS)
        if unknown:
            raise TypeError(
                f"joblib.Parallel passed {unknown} to the parjob-{self._parjob.name} backend, "
                "which takes its parameters when it is created: pass them to "
                f"joblib.parallel_config('parjob-{self._parjob.name}', ...) or parjob's "
                "parallel_config instead"
            )
        requested = validation.check_n_jobs(n_jobs if n_jobs is not None else self.default_n_jobs)
        backend, requested = nesting.runnable(
            self._parjob, requested, lambda name: backend_instance(name, {})
        )
        effective = backend.effective_n_jobs(requested if requested is not None else 1)
        if effective == 1:
            return 1  # joblib runs the tasks itself, in the caller: nothing to start
        settings = RunSettings(
            temp_folder=backend_kwargs.get("temp_folder"),
            max_nbytes=validation.parse_nbytes(backend_kwargs.get("max_nbytes", "1M")),
            mmap_mode=validation.check_mmap_mode(backend_kwargs.get("mmap_mode", "r")),
            inner_max_num_threads=self.inner_max_num_threads,
        )
        taken = leases.take(backend)
        try:
            taken.start(effective, settings)
        except BaseException:
            leases.give_back(backend, taken)
            raise
        with self._lock:
            self._calls.append(_Call(backend, taken, effective, settings))
        return effective

    def submit(self, func: Any, callback: Any = None) -> Future[BatchResult]:
        """Run joblib's batch ``func`` as one parjob batch; ``callback(future)`` when done."""
        call = self._current()
        batch = Batch(call.dispatched, [(JoblibBatch(func), (), {})], call.nested)
        call.dispatched += 1
        backend = call.backend
        work: Any = batch
        if backend.serializes:
            try:
                work = backend.encode(batch)
            except Exception as exc:
                raise explain(batch, exc) from exc
        future = backend.submit(work)
        if callback is not None:
            call.relay.on_done(future, callback)
        return future

    apply_async = submit  # joblib before 1.5 calls it by this name

    def retrieve_result_callback(self, out: Future[BatchResult]) -> Any:
        outcome = result_of(out)
        results = outcome.results[0]
        with self._lock:
            self._sizes().record(len(results), outcome.seconds)
        return results

    def retrieve_result(self, out: Future[BatchResult], timeout: float | None = None) -> Any:
        """Wait for ``out`` (joblib calls this only for backends without callbacks)."""
        out.exception(timeout)
        return self.retrieve_result_callback(out)

    def abort_everything(self, ensure_ready: bool = True) -> None:
        with self._lock:
            call = self._calls[-1] if self._calls else None
        if call is None:
            return
        call.backend.abort()
        if ensure_ready:  # joblib may send more batches through this instance
            call.backend.start(call.n_jobs, call.settings)

    def terminate(self) -> None:
        with self._lock:
            call = self._calls.pop() if self._calls else None
        if call is None:
            return
        try:
            call.backend.stop()
        finally:
            call.relay.close()
            leases.give_back(call.owner, call.backend)

    def get_nested_backend(self) -> tuple[ParjobBackend, int | None]:
        """joblib calls inside a task run on the parjob backend's nested choice."""
        call = self._current(required=False)
        name, n_jobs = call.nested[:2] if call is not None else self._parjob.nested(1)
        level = (self.nesting_level or 0) + 1
        return ParjobBackend(name, nesting_level=level), n_jobs

    def _current(self, required: bool = True) -> Any:
        with self._lock:
            if self._calls:
                return self._calls[-1]
        if required:
            raise RuntimeError(
                f"the parjob-{self._parjob.name} joblib backend was asked to run a batch "
                "outside a call (joblib calls configure() first)"
            )
        return None

    # -- travelling inside joblib's batches (nested backends) -------------------------------
    def __reduce__(self) -> tuple[Any, ...]:
        backend, params = self._spec
        options = {"default_n_jobs": self.default_n_jobs, **params}
        return (_rebuild, (backend, self.nesting_level, self.inner_max_num_threads, options))

    def __repr__(self) -> str:
        return f"<ParjobBackend {self._parjob.name!r}>"


def _rebuild(
    backend: Any, nesting_level: int | None, inner: int | None, options: dict[str, Any]
) -> ParjobBackend:
    return ParjobBackend(backend, nesting_level, inner, **options)
