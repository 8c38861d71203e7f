"""parjob: readable parallel loops on your cores or on a cluster.

``Parallel(n_jobs=-1)(delayed(f)(x) for x in data)`` runs ``f`` over ``data`` in parallel;
``with parallel_config("dask"):`` chooses where. Backends are plugins (entry-point group
``parjob``); ``sequential`` and ``threading`` ship with the core.

Names are imported on first use: a worker process that only runs batches imports a few
small modules, not the plugin machinery (pluggy, importlib.metadata).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "CONTRACT_VERSION": "parjob.backend",
    "Backend": "parjob.backend",
    "RunSettings": "parjob.backend",
    "parallel_backend": "parjob.config",
    "parallel_config": "parjob.config",
    "cpu_count": "parjob.cpu",
    "BackendError": "parjob.errors",
    "ParallelTimeoutError": "parjob.errors",
    "PluginError": "parjob.errors",
    "RemoteTraceback": "parjob.errors",
    "ResultSerializationError": "parjob.errors",
    "SerializationError": "parjob.errors",
    "TaskError": "parjob.errors",
    "TaskTimeoutError": "parjob.errors",
    "UnknownBackendError": "parjob.errors",
    "WorkerCrashedError": "parjob.errors",
    "hookimpl": "parjob.hookspecs",
    "MainGuardError": "parjob.mainguard",
    "Parallel": "parjob.parallel",
    "list_backends": "parjob.plugins",
    "register_parallel_backend": "parjob.plugins",
    "effective_n_jobs": "parjob.selection",
    "wrap_non_picklable_objects": "parjob.serialization",
    "delayed": "parjob.tasks",
    "SeedWarning": "parjob.seeds",
    "task_rng": "parjob.seeds",
    "worker_state": "parjob.workerinit",
}

__all__ = [
    "CONTRACT_VERSION",
    "Backend",
    "BackendError",
    "MainGuardError",
    "Parallel",
    "ParallelTimeoutError",
    "PluginError",
    "RemoteTraceback",
    "ResultSerializationError",
    "RunSettings",
    "SeedWarning",
    "SerializationError",
    "TaskError",
    "TaskTimeoutError",
    "UnknownBackendError",
    "WorkerCrashedError",
    "__version__",
    "cpu_count",
    "delayed",
    "effective_n_jobs",
    "hookimpl",
    "list_backends",
    "parallel_backend",
    "parallel_config",
    "register_parallel_backend",
    "task_rng",
    "worker_state",
    "wrap_non_picklable_objects",
]

if TYPE_CHECKING:
    from parjob.backend import CONTRACT_VERSION, Backend, RunSettings
    from parjob.config import parallel_backend, parallel_config
    from parjob.cpu import cpu_count
    from parjob.errors import (
        BackendError,
        ParallelTimeoutError,
        PluginError,
        RemoteTraceback,
        ResultSerializationError,
        SerializationError,
        TaskError,
        TaskTimeoutError,
        UnknownBackendError,
        WorkerCrashedError,
    )
    from parjob.hookspecs import hookimpl
    from parjob.mainguard import MainGuardError
    from parjob.parallel import Parallel
    from parjob.plugins import list_backends, register_parallel_backend
    from parjob.seeds import SeedWarning, task_rng
    from parjob.selection import effective_n_jobs
    from parjob.serialization import wrap_non_picklable_objects
    from parjob.tasks import delayed
    from parjob.workerinit import worker_state

    __version__: str


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib import metadata

        try:
            value: Any = metadata.version("parjob")
        except metadata.PackageNotFoundError:  # running from a source tree
            value = "0.0.0"
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'parjob' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
