"""Limits on native thread pools (OpenBLAS, MKL, OpenMP, ...) inside the workers.

Without a limit, each of ``n_jobs`` workers would start one BLAS or OpenMP thread per CPU,
and the machine would run ``n_jobs * cpu_count()`` threads. The caller computes the limit
(:func:`worker_env`); the worker applies it before each batch (:func:`apply`), through the
usual environment variables, read by a library when it loads, and through threadpoolctl
for libraries that are already loaded when the limit changes.
"""

from __future__ import annotations

import os
import sys

from parjob.cpu import cpu_count

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

Limits = tuple[tuple[str, str], ...]


def default_limit(n_jobs: int) -> int:
    """Threads per worker when ``inner_max_num_threads`` is not set: the CPUs divided fairly."""
    return max(cpu_count() // max(n_jobs, 1), 1)


def worker_env(n_jobs: int, explicit: int | None) -> Limits:
    """The variables to set in workers: ``explicit`` for all, else the default for those
    the user has not set in this process's environment (as joblib does). Every variable is
    listed, as reused workers keep the values an earlier call gave them."""
    default = str(default_limit(n_jobs))
    env = {
        var: str(explicit) if explicit is not None else os.environ.get(var, default)
        for var in THREAD_VARS
    }
    env[TBB_IPC_VAR] = os.environ.get(TBB_IPC_VAR, "1")
    return tuple(sorted(env.items()))


# -- in the worker -------------------------------------------------------------------
_applied: Limits | None = None


def apply(limits: Limits) -> None:
    """Make ``limits`` the thread limits of this worker (a no-op when they already are)."""
    global _applied
    if limits == _applied:
        return
    env = dict(limits)
    if sys.modules.get("numba") is not None:
        # numba refuses a new thread count once its thread pool has started
        env.pop("NUMBA_NUM_THREADS", None)
    os.environ.update(env)
    # A fresh worker has loaded no native library yet: the variables are enough. Once one
    # is loaded (a reused worker, or one forked from a caller that imported numpy), its
    # pool is resized in place.
    if _applied is not None or any(sys.modules.get(name) for name in _NATIVE_MODULES):
        _resize_loaded_pools(env)
    _applied = limits


def _resize_loaded_pools(env: dict[str, str]) -> None:
    from threadpoolctl import threadpool_limits

    limits = {}
    for api, var in (("openmp", "OMP_NUM_THREADS"), ("blas", "OPENBLAS_NUM_THREADS")):
        value = env.get(var, "")
        if value.isdigit() and int(value) > 0:
            limits[api] = int(value)
    if limits:
        threadpool_limits(limits=limits)
