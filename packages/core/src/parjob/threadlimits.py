"""One CPU budget: each worker's share of its machine's CPUs, on every backend.

Without a limit, each of ``n_jobs`` workers would start one BLAS or OpenMP thread per CPU,
and the machine would run ``n_jobs * cpu_count()`` busy threads; a nested ``Parallel(n_jobs=
-1)`` inside each task would do the same with Python workers. So a call gives each worker
a *share* (``Backend.cpu_share``: this machine's CPUs over ``n_jobs`` for local workers, the
engine's slots for a cluster; ``inner_max_num_threads=`` overrides it). The share travels
in each batch's ``nested`` record as a :class:`Budget`, and the worker side
(``parjob.workerside``) uses it twice:

* in a worker *process* it becomes the process's native thread limit (:func:`apply`):
  environment variables for libraries not loaded yet, threadpoolctl for those loaded, and
  only when it changes (never a threadpoolctl scan per batch). Variables the worker's
  environment already set (the user's, as joblib keeps them) win over a default share;
* inside a task, :func:`parjob.cpu_count` returns the share, so a nested call with
  ``n_jobs=-1`` uses what is left, and its own workers get a share of that.

Thread workers share the caller's process: there the limit is process-wide, held while a
call on a thread backend (or its ``with Parallel()`` block) runs (:func:`hold_for` /
:func:`release`, counted, so concurrent calls from several threads restore the caller's
limits only when the last one ends).
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Union

from parjob.cpu import cpu_count

if TYPE_CHECKING:
    from parjob.backend import Backend

#: The variables native libraries read for their thread count (the ones joblib sets).
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
#: Lets several TBB schedulers in different processes share the CPUs.
TBB_IPC_VAR = "TBB_ENABLE_IPC"
#: Modules that may have loaded a native thread pool in this process.
_NATIVE_MODULES = ("numpy", "scipy", "torch", "numexpr", "mkl", "sklearn", "tensorflow", "jax")

Share = Union[int, Callable[[], int]]  # noqa: UP007 - a runtime alias, for Python 3.10
Env = tuple[tuple[str, str], ...]


class Budget(NamedTuple):
    """What a batch carries about its worker's share of the CPUs."""

    #: the share, or a picklable function that computes it in the worker
    share: Share
    #: set by ``inner_max_num_threads=``: wins over thread variables already set
    explicit: bool
    #: the caller's process: batches running there never change its limits
    origin: tuple[int, int]
    #: for workers on the caller's machine, the thread variables the caller's environment
    #: sets (they win over a default share, as in joblib); None: the worker's own count
    env: Env | None = None


def default_share(n_jobs: int) -> int:
    """Each of ``n_jobs`` workers on this machine: its CPUs divided fairly (at least one)."""
    # (conditionals, not max(), which is slow to call: this runs once per call)
    share = cpu_count() // (n_jobs if n_jobs > 1 else 1)
    return share if share > 1 else 1


def for_call(backend: Backend, n_jobs: int, explicit: int | None) -> Budget | None:
    """The budget a call's batches carry (None: the backend sets no limit)."""
    share = explicit if explicit is not None else backend.cpu_share(n_jobs)
    if share is None:
        return None
    # (thread workers share this process and its environment: nothing to carry)
    env = _user_env() if backend.local and not backend.uses_threads else None
    # (made once per call: without the Python-level NamedTuple __new__)
    return _new_budget(Budget, (share, explicit is not None, _here, env))


_new_budget = tuple.__new__


def _user_env() -> Env:
    """The thread variables set in this process's environment, other than by parjob (in
    a worker, a nested call's workers keep the user's values, not the worker's limit)."""
    return _set_in(_own if _own is not None else os.environ)


def _set_in(source: Mapping[str, str]) -> Env:
    """The thread variables (and TBB's) that ``source`` sets, in a fixed order."""
    names = (*THREAD_VARS, TBB_IPC_VAR)
    return tuple((name, source[name]) for name in names if source.get(name))


def here() -> tuple[int, int]:
    """This process, told apart from a same-numbered one on another machine (the CPU
    budget and the call's context ask "am I the caller's process?")."""
    return _here


_BOOT = uuid.uuid4().int
#: here(), made once per process (a forked child makes its own)
_here = (os.getpid(), _BOOT)


def _new_process() -> None:
    global _here
    _here = (os.getpid(), _BOOT)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_process)


# -- in the worker ---------------------------------------------------------------------
def enter(budget: Budget) -> int | None:
    """Before a batch's tasks: the worker's share (None when it cannot be known), applied
    as this process's limit when the batch crossed into another process."""
    share = budget.share
    if not isinstance(share, int):
        try:
            share = int(share())
        except Exception:  # an engine that cannot say: no limit rather than no task
            return None
    if share < 1:
        share = 1
    if budget.origin != _here:  # (here(), without a call per batch)
        apply(share, budget.explicit, budget.env)
    return share


_lock = threading.Lock()
#: the last (share, explicit, env) this worker process's limits were set to
_applied: tuple[int, bool, Env | None] | None = None
#: the thread variables this process's environment set before parjob first set any
_own: dict[str, str] | None = None


def apply(share: int, explicit: bool = False, env: Env | None = None) -> None:
    """Make ``share`` this worker process's thread limit (a no-op when it already is).

    Unless ``explicit``, a thread variable set in ``env`` (the caller's, for a local
    worker), else in this process's own environment before parjob set any, is kept.
    """
    global _applied, _own
    key = (share, explicit, env)
    if key == _applied:
        return
    with _lock:
        if key == _applied:
            return
        if _own is None:
            _own = dict(_set_in(os.environ))
        pinned = dict(env) if env is not None else _own
        values = {var: str(share) for var in THREAD_VARS}
        if not explicit:
            values.update((var, value) for var, value in pinned.items() if var in values)
        values[TBB_IPC_VAR] = pinned.get(TBB_IPC_VAR, "1")
        if sys.modules.get("numba") is not None:
            # numba refuses a new thread count once its thread pool has started
            values.pop("NUMBA_NUM_THREADS", None)
        os.environ.update(values)
        # a fresh worker has loaded no native library yet: the variables are enough; once
        # one is loaded (a reused worker, or arrays unpickled), its pool is resized in place
        if _applied is not None or _native_loaded():
            _resize_loaded_pools()
        _applied = key


#: whether a native library was seen loaded, and how many modules were loaded when not
_native_seen = False
_modules_checked = -1


def _native_loaded() -> bool:
    # once loaded, a library stays: only a grown sys.modules needs looking at again
    global _native_seen, _modules_checked
    if _native_seen:
        return True
    modules = sys.modules
    if len(modules) != _modules_checked:
        _modules_checked = len(modules)
        _native_seen = any(modules.get(name) is not None for name in _NATIVE_MODULES)
    return _native_seen


def _resize_loaded_pools() -> None:
    limits = {}
    for api, var in (("openmp", "OMP_NUM_THREADS"), ("blas", "OPENBLAS_NUM_THREADS")):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            limits[api] = int(value)
    for lib in _libraries():
        wanted = limits.get(lib.user_api)
        if wanted is not None and lib.num_threads != wanted:
            _set(lib, wanted)


def _set(lib: Any, count: int) -> None:
    """Set a loaded library's thread count from whichever thread runs this.

    threadpoolctl (3.8+) lets only the first thread that limits OpenBLAS's process-wide
    pool change it, and silently ignores the others; parjob is the process's one
    coordinator here (a worker's task thread, or the caller thread of a thread call), so
    it sets the count itself.
    """
    real = getattr(lib, "_real_set_num_threads", None)
    (real if real is not None else lib.set_num_threads)(count)


# -- thread workers: one process-wide limit while thread calls run -----------------------
#: the shares of the thread calls running now (the smallest one is applied)
_held: list[int] = []
#: each loaded library's thread count before the first running thread call, to restore
_saved: dict[Any, int] | None = None
_controller: Any = None
_controller_modules = -1


def hold_for(budget: Budget | None) -> int | None:
    """For a call on thread workers: :func:`hold` its budget's share (None: none to hold)."""
    if budget is None or not isinstance(budget.share, int):
        return None
    share = budget.share
    return hold(share if share > 1 else 1)


def hold(share: int) -> int:
    """A thread call with this share starts: native pools get at most ``share`` threads
    (never more than they had) until :func:`release`. Returns what to release."""
    with _lock:
        _held.append(share)
        if _saved is not None or _native_seen or _native_loaded():  # else nothing to limit
            _limit_held()
    return share


def release(share: int) -> None:
    """A thread call that :func:`hold` ``share`` ended: its limit goes, and the caller's
    own limits come back when no other thread call runs."""
    with _lock:
        if share in _held:
            _held.remove(share)
        if _held:
            _limit_held()
        elif _saved is not None:
            _restore()


def _limit_held() -> None:
    global _saved
    if _saved is None and not _native_loaded():
        return  # nothing loaded to limit: a thread call costs nothing here
    target = min(_held)
    if _saved is None:
        _saved = {}
    for lib in _libraries():
        original = _saved.setdefault(lib, lib.num_threads)
        wanted = min(target, original)
        if lib.num_threads != wanted:
            _set(lib, wanted)


def _restore() -> None:
    global _saved
    if _saved is None:
        return
    for lib, original in _saved.items():
        if lib.num_threads != original:
            _set(lib, original)
    _saved = None


def _libraries() -> list[Any]:
    """threadpoolctl's controllers of the pools loaded here; scanned again only when a
    module was imported since the last scan."""
    global _controller, _controller_modules
    if _controller is None or len(sys.modules) != _controller_modules:
        from threadpoolctl import ThreadpoolController

        _controller_modules = len(sys.modules)
        fresh = ThreadpoolController()
        if _controller is not None:  # keep the objects _saved knows, add new ones
            known = {lib.filepath: lib for lib in _controller.lib_controllers}
            fresh.lib_controllers = [known.get(lib.filepath, lib) for lib in fresh.lib_controllers]
        _controller = fresh
    return list(_controller.lib_controllers)
