"""``Parallel``: the readable parallel loop, ``Parallel(n_jobs=2)(delayed(f)(x) for x in xs)``."""

from __future__ import annotations

import itertools
import operator
import threading
import warnings
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

from parjob import (
    config,
    leases,
    optioncache,
    recycling,
    seeds,
    tasktimes,
    threadlimits,
    validation,
    workerinit,
)
from parjob.backend import Backend, RunSettings
from parjob.batching import Batcher
from parjob.config import Default, chosen
from parjob.inline import run_inline, run_inline_list, run_inline_with_policy
from parjob.nesting import nested_for
from parjob.optioncache import Arguments
from parjob.policy import make_policy
from parjob.progress import Progress, write_line
from parjob.runner import Run
from parjob.selection import choose
from parjob.summary import RunSummary
from parjob.tasks import Task, forget_last_delayed
from parjob.warn import warn_user
from parjob.world import World

_DEFAULT_PRE_DISPATCH = "2 * n_jobs"
_ANY_EXCEPTION = Default((Exception,))
#: the world of a call that sets none of its options (most calls): made once
_NO_WORLD = World()
_NOTHING_SET = (None, None, None, None, False)


class Parallel:
    """Run ``delayed`` tasks in parallel and return their results in input order.

    ``n_jobs``: workers (-1 all CPUs, -2 all but one, None the configured default or 1).
    ``backend``: a backend name or instance; by default the one ``parallel_config`` sets,
    else a process backend when one is installed (``prefer``/``require`` steer the choice).
    ``return_as``: ``"list"``, ``"generator"`` (ordered, as results arrive) or
    ``"generator_unordered"``. ``timeout``: seconds any one task may take.
    ``pre_dispatch``: batches in flight (``"all"``, an int or e.g. ``"2 * n_jobs"``).
    ``batch_size``: tasks per batch, or ``"auto"`` to size batches from measured task time.
    ``temp_folder``, ``max_nbytes``, ``mmap_mode``: memory-mapping of large arrays for
    process backends. ``on_error``: ``"raise"`` (the first failure), ``"collect"`` (a
    failed task's slot holds a ``TaskError``) or ``"skip"`` (left out, one warning).
    ``retries``: further attempts for a task that raised one of ``retry_on`` (default any
    ``Exception``) or whose worker died, ``retry_delay`` seconds apart (doubling).
    ``progress``: a live bar counting tasks (``True``: tqdm when installed, else a plain
    line), or a tqdm class, a bar object with ``update``, or a callable ``(done, total)``.
    After a call, ``last_run`` summarizes it (see docs/observability.md).
    ``seed``: each task gets its own random stream (``task_rng()``); ``seed_globals``: also
    seed the global ``random`` and numpy generators before each task (worker processes and
    inline only; about 5 µs a task).
    ``initializer``/``initargs``: run once in each worker before its first task.
    ``relay_logs``/``relay_output``: replay what tasks in worker processes log and print in
    the caller (on by default there). ``max_tasks_per_worker``: replace a worker process
    with a fresh one after it has run that many tasks (process backends). Extra keyword
    arguments go to the backend. Use it as a context manager to keep one pool of workers
    across several calls.
    """

    def __init__(
        self,
        n_jobs: int | None = None,
        backend: str | Backend | None = None,
        return_as: str = "list",
        verbose: int = Default(0),  # type: ignore[assignment]
        timeout: float | None = None,
        pre_dispatch: str | int = _DEFAULT_PRE_DISPATCH,
        batch_size: int | str = "auto",
        temp_folder: str | None = Default(None),  # type: ignore[assignment]
        max_nbytes: int | str | None = Default("1M"),  # type: ignore[assignment]
        mmap_mode: str | None = Default("r"),  # type: ignore[assignment]
        prefer: str | None = Default(None),  # type: ignore[assignment]
        require: str | None = Default(None),  # type: ignore[assignment]
        return_generator: bool | None = None,
        progress: bool | Any = Default(False),  # noqa: B008
        on_error: str = Default("raise"),  # type: ignore[assignment]
        retries: int = Default(0),  # type: ignore[assignment]
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = _ANY_EXCEPTION,  # type: ignore[assignment]
        retry_delay: float = Default(0.0),  # type: ignore[assignment]
        seed: int | None = None,
        seed_globals: bool = False,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
        relay_logs: bool | None = Default(None),  # type: ignore[assignment]
        relay_output: bool | None = Default(None),  # type: ignore[assignment]
        max_tasks_per_worker: int | None = Default(None),  # type: ignore[assignment]
        **backend_kwargs: Any,
    ) -> None:
        settings = config.current()
        if return_generator is not None:  # the older spelling of return_as="generator"
            warnings.warn(
                "return_generator is deprecated: use return_as='generator'",
                DeprecationWarning,
                stacklevel=2,
            )
            return_as = "generator" if return_generator else return_as
        arguments = _new_arguments(
            Arguments,
            (
                return_as,
                verbose,
                timeout,
                batch_size,
                temp_folder,
                max_nbytes,
                mmap_mode,
                prefer,
                require,
                progress,
                on_error,
                retries,
                retry_on,
                retry_delay,
                seed,
                seed_globals,
                initializer,
                initargs,
                relay_logs,
                relay_output,
                max_tasks_per_worker,
            ),
        )
        known = optioncache.recall(settings, arguments)
        if known is not None:
            # (the attributes _kept reads, in its order; assigned one by one, not through
            # __dict__, which would make every later attribute read slower)
            (
                self.return_as,
                self.verbose,
                self.timeout,
                self.batch_size,
                self.prefer,
                self.require,
                self.progress,
                self.policy,
                self.settings,
                self.world,
            ) = known
        else:
            self._check_options(settings, arguments)
        validation.check_backend_spec(backend)
        self._backend, requested = choose(
            backend,
            validation.check_n_jobs(n_jobs),
            self.prefer,
            self.require,
            backend_kwargs,
            settings,
        )
        self.n_jobs: int = requested
        recycling.check_supported(self._backend, self.settings.max_tasks_per_worker)
        self._announced = False
        if requested < 0:  # sizing reads the cluster's slots: the engine starts here
            self._announce_startup()
        self.pre_dispatch = pre_dispatch
        validation.parse_pre_dispatch(pre_dispatch, self._effective_n_jobs())
        if known is None:
            init = workerinit.check(initializer, initargs)  # initargs alone are refused too
            seed = seeds.check_seed(seed)
            world = (
                seed,
                init if initializer is not None else None,
                validation.check_switch("relay_logs", chosen(relay_logs, settings, "relay_logs")),
                validation.check_switch(
                    "relay_output", chosen(relay_output, settings, "relay_output")
                ),
                seeds.check_seed_globals(seed_globals, seed),
            )
            self.world = _NO_WORLD if world == _NOTHING_SET else World(*world)
            optioncache.remember(settings, arguments, _kept(self))
        if self.world.seed_globals:  # (the backend decides: not kept with the options)
            seeds.check_globals_are_own(self._backend, self._effective_n_jobs())
        self._lock = threading.Lock()
        self._running = False
        self._managed = False
        #: the instance the current call or ``with`` block runs on (see parjob.leases)
        self._taken: Backend | None = None
        #: the native thread limit a thread backend's call holds (see parjob.threadlimits)
        self._held: int | None = None
        #: the unfinished generator of the last call (weakly: dropping it still cleans up)
        self._stream: weakref.ref[Generator[Any, None, None]] | None = None
        #: the hub of the last call that ended (its summary is ``last_run``)
        self._last: Progress | None = None

    def _check_options(self, settings: Mapping[str, Any], given: Arguments) -> None:
        """Check and resolve the options that do not depend on the backend."""
        self.return_as = validation.check_return_as(given.return_as)
        self.verbose = validation.check_verbose(chosen(given.verbose, settings, "verbose"))
        self.timeout = validation.check_timeout(given.timeout)
        self.batch_size = validation.check_batch_size(given.batch_size)
        self.prefer = validation.check_prefer(chosen(given.prefer, settings, "prefer"))
        self.require = validation.check_require(chosen(given.require, settings, "require"))
        self.progress = validation.check_progress(chosen(given.progress, settings, "progress"))
        validation.check_prefer_with_require(self.prefer, self.require)
        self.policy = make_policy(
            chosen(given.on_error, settings, "on_error"),
            chosen(given.retries, settings, "retries"),
            chosen(given.retry_on, settings, "retry_on"),
            chosen(given.retry_delay, settings, "retry_delay"),
        )
        self.settings = RunSettings(
            temp_folder=chosen(given.temp_folder, settings, "temp_folder"),
            max_nbytes=validation.parse_nbytes(chosen(given.max_nbytes, settings, "max_nbytes")),
            mmap_mode=validation.check_mmap_mode(chosen(given.mmap_mode, settings, "mmap_mode")),
            inner_max_num_threads=settings.get("inner_max_num_threads"),
            timeout=self.timeout,
            max_tasks_per_worker=validation.check_max_tasks_per_worker(
                chosen(given.max_tasks_per_worker, settings, "max_tasks_per_worker")
            ),
        )

    @property
    def backend(self) -> Backend:
        """The backend instance this object runs on."""
        return self._backend

    @property
    def last_run(self) -> RunSummary | None:
        """What the last call that ended did: tasks, batch sizes, where each worker's time
        went, the slowest tasks, a timeline (``plot_timeline()``); None before any call."""
        return self._last.summary() if self._last is not None else None

    def _ended(self, progress: Progress) -> None:
        self._last = progress

    def _runs_inline(self, n_jobs: int) -> bool:
        # a worker that must be replaced after N tasks cannot be the caller
        return n_jobs == 1 and self._backend.local and self.settings.max_tasks_per_worker is None

    def _effective_n_jobs(self) -> int:
        return self._backend.effective_n_jobs(self.n_jobs)

    # -- reuse across calls ----------------------------------------------------------
    def __enter__(self) -> Parallel:
        taken = self._take()
        try:
            self._announce_startup()
            taken.start(self._effective_n_jobs(), self.settings)
        except BaseException:
            self._give_back()
            raise
        self._managed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._managed = False
        stream = self._stream() if self._stream is not None else None
        if self._running and stream is not None:
            stream.close()  # an unfinished generator is aborted at the block's end, as in joblib
        self._stop()

    # -- a call ----------------------------------------------------------------------
    def __call__(self, iterable: Iterable[Task]) -> Any:
        """Run the tasks; a list, or a generator as ``return_as`` says."""
        try:
            tasks = iter(iterable)
        except TypeError:
            raise TypeError(
                f"Parallel expects an iterable of delayed(f)(...) tasks, got {iterable!r}"
            ) from None
        with self._lock:
            if self._running:
                raise RuntimeError(
                    "This Parallel instance is already running: it is still running an "
                    "earlier call (a generator that was not consumed or closed); finish it "
                    "first or use another Parallel"
                )
            self._running = True
        try:
            return self._results(tasks, iterable)
        except BaseException:
            self._running = False
            raise
        finally:
            if self.return_as == "list":
                self._running = False
            forget_last_delayed()

    def _results(self, tasks: Iterator[Task], iterable: Iterable[Task]) -> Any:
        first, tasks = _checked(tasks)
        n_jobs = self._effective_n_jobs()
        total = len(iterable) if hasattr(iterable, "__len__") else None  # type: ignore[arg-type]
        self._progress_n_jobs = n_jobs
        backend = self._backend
        inline = self._runs_inline(n_jobs)
        progress = Progress(
            self.verbose,
            n_jobs,
            total,
            self._print,
            backend=backend.name,
            bar=self.progress,
            return_as=self.return_as,
            inline=inline,
        )
        progress.on_end = self._ended
        progress.begin()
        try:
            if inline:
                return self._run_inline(tasks, progress)
            return self._run(tasks, total, n_jobs, progress, first)
        except BaseException as exc:
            progress.close(exc)
            raise

    def _run_inline(self, tasks: Iterator[Task], progress: Progress) -> Any:
        """Run the tasks in the caller, one after the other (one worker)."""
        if self.timeout is not None:
            # joblib's words (tasks run inline: SequentialBackend), which callers match
            warn_user(
                "The backend class 'SequentialBackend' does not support timeout. You have "
                f"set 'timeout={self.timeout:g}' in Parallel but the 'timeout' parameter "
                "will not be used."
            )
        if isinstance(self.batch_size, int):
            tasks = _read_in_batches(tasks, self.batch_size)  # as joblib reads the input
        tasks = self.world.inline(tasks)
        if not self.policy.is_default:
            inline = run_inline_with_policy(tasks, self.policy, progress)
            if self.return_as == "list":
                return list(inline)
            return self._finally(inline, progress, stop=False)
        if self.return_as == "list":
            return run_inline_list(tasks, progress)
        return self._finally(run_inline(tasks, progress), progress, stop=False)

    def _run(
        self,
        tasks: Iterator[Task],
        total: int | None,
        n_jobs: int,
        progress: Progress,
        first: Any = None,
    ) -> Any:
        """Run the tasks on the backend's workers."""
        if not self._managed:
            self._take()
        try:
            return self._dispatch(tasks, total, n_jobs, progress, first)
        except BaseException:
            self._stop()
            raise

    def _dispatch(
        self,
        tasks: Iterator[Task],
        total: int | None,
        n_jobs: int,
        progress: Progress,
        first: Any = None,
    ) -> Any:
        """Run the tasks on the backend's workers; ``first`` is the first task's function."""
        backend = self._taken
        assert backend is not None
        self._announce_startup()
        backend.start(n_jobs, self.settings)  # cheap when the workers are ready
        budget = threadlimits.for_call(backend, n_jobs, self.settings.inner_max_num_threads)
        if backend.uses_threads and self._held is None:  # until the call or block ends
            self._held = threadlimits.hold_for(budget)
        if self.verbose:
            progress.say(f"Using backend {backend.name} with {n_jobs} concurrent workers.")
        default_pre_dispatch = _is_default_pre_dispatch(self.pre_dispatch)
        batcher = Batcher(
            self.batch_size,
            n_jobs,
            backend.target_batch_seconds,
            total,
            self.timeout,
            # in generator modes memory is bounded in batches: start at one task, as joblib
            probe=default_pre_dispatch and self.return_as == "list",
            cap=self.settings.max_tasks_per_worker,
            prior=tasktimes.recall(first),
        )
        run = Run(
            backend,
            n_jobs,
            tasks,
            batcher,
            validation.parse_pre_dispatch(self.pre_dispatch, n_jobs),
            self.timeout,
            progress,
            self.world.nested(
                nested_for(backend, n_jobs), backend.serializes, backend.local, budget
            ),
            ordered=self.return_as == "generator",
            bounded=self.return_as != "list",
            # an explicit pre_dispatch bounds how far the input is read: honour it exactly
            lookahead=total is None and default_pre_dispatch,
            policy=self.policy,
        )
        if self.return_as == "list":
            try:
                # (the first batches go out in the loop's first step: the caller then
                # waits for them with nothing more to do, and a thread worker gets the GIL)
                results = _in_order(run.batches())
            finally:
                self._stop()
            tasktimes.remember(first, batcher.seconds_per_task)
            return results
        # dispatch the first batches now, so workers start while the caller goes on
        run.start()
        return self._finally(_flatten(run.batches()), progress, abort=run.abort)

    def _finally(
        self,
        results: Iterator[Any],
        progress: Progress,
        stop: bool = True,
        abort: Callable[[], None] | None = None,
    ) -> Iterator[Any]:
        stream = self._guarded(results, progress, stop, abort)
        next(stream)  # started, so closing or dropping it runs the clean-up
        self._stream = weakref.ref(stream)
        return stream

    def _guarded(
        self,
        results: Iterator[Any],
        progress: Progress,
        stop: bool,
        abort: Callable[[], None] | None,
    ) -> Generator[Any, None, None]:
        try:
            yield None
            yield from results
        except GeneratorExit:
            if abort is not None:  # closed or dropped early: cancel what is still queued
                abort()
            progress.close("the generator was closed before its end")
            raise
        except BaseException as exc:
            progress.close(exc)
            raise
        finally:
            self._running = False
            self._stream = None
            if stop:
                self._stop()

    def _take(self) -> Backend:
        self._taken = leases.take(self._backend)
        return self._taken

    def _give_back(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            threadlimits.release(held)
        taken, self._taken = self._taken, None
        if taken is not None:
            leases.give_back(self._backend, taken)

    def _stop(self) -> None:
        """End of a call (or of the ``with`` block): stop its backend and hand it back."""
        if self._managed or self._taken is None:
            return
        try:
            self._taken.stop()
        finally:
            self._give_back()

    def _announce_startup(self) -> None:
        """At ``verbose`` or with a progress bar, say once that the backend's engine is
        starting, when that takes seconds (``Backend.startup_note``), before it starts."""
        if (self.verbose or self.progress) and not self._announced:
            self._announced = True
            note = self._backend.startup_note()
            if note:
                self._print(note)

    def _print(self, msg: str) -> None:
        """Print one ``verbose`` message with its ``[Parallel(n_jobs=...)]`` prefix.

        A subclass may override it to collect the messages instead (as joblib's allows).
        """
        n_jobs = getattr(self, "_progress_n_jobs", self.n_jobs)
        write_line(self.verbose, f"[Parallel(n_jobs={n_jobs})]: {msg}")

    def __repr__(self) -> str:
        return f"Parallel(n_jobs={self.n_jobs}, backend={self._backend.name!r})"


_first = operator.itemgetter(0)
#: the options of a Parallel() that optioncache keeps for its arguments
_kept = operator.attrgetter(
    "return_as",
    "verbose",
    "timeout",
    "batch_size",
    "prefer",
    "require",
    "progress",
    "policy",
    "settings",
    "world",
)
#: builds the arguments without NamedTuple's Python-level __new__ (one per Parallel())
_new_arguments = tuple.__new__


def _is_default_pre_dispatch(value: object) -> bool:
    # joblib spells the same default "2*n_jobs", and scikit-learn passes that explicitly
    if value is _DEFAULT_PRE_DISPATCH:
        return True
    spaceless = _DEFAULT_PRE_DISPATCH.replace(" ", "")
    return isinstance(value, str) and value.replace(" ", "") == spaceless


def _checked(tasks: Iterator[Task]) -> tuple[Any, Iterator[Task]]:
    """Check the first task's shape (cheaply, once); its function (None when there are no
    tasks), and all tasks."""
    for first in tasks:
        if not (type(first) is tuple and len(first) == 3 and callable(first[0])):
            raise TypeError(
                "Parallel expects tasks made with delayed(f)(*args, **kwargs), that is "
                f"(function, args, kwargs) tuples; got {first!r}"
            )
        return first[0], itertools.chain((first,), tasks)
    return None, tasks


def _read_in_batches(tasks: Iterator[Task], size: int) -> Iterator[Task]:
    """Hand on ``tasks``, reading ``size`` of them from the input before running any."""
    while chunk := list(itertools.islice(tasks, size)):
        yield from chunk


def _flatten(batches: Iterator[tuple[int, list[Any]]]) -> Iterator[Any]:
    for _, results in batches:
        yield from results


def _in_order(batches: Iterator[tuple[int, list[Any]]]) -> list[Any]:
    """List mode: collect batches as they finish, then lay them out by input position."""
    out: list[Any] = []
    for _, results in sorted(batches, key=_first):
        out.extend(results)
    return out
