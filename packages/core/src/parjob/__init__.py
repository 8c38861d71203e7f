"""parjob: readable parallel loops on your cores or on a cluster.

``Parallel(n_jobs=-1)(delayed(f)(x) for x in data)`` runs ``f`` over ``data`` in parallel;
``with parallel_config("dask"):`` chooses where. Backends are plugins (entry-point group
``parjob``); ``sequential`` and ``threading`` ship with the core.
"""

from __future__ import annotations

from importlib import metadata

from parjob.backend import CONTRACT_VERSION, Backend, RunSettings
from parjob.config import parallel_backend, parallel_config
from parjob.cpu import cpu_count
from parjob.errors import (
    PluginError,
    RemoteTraceback,
    SerializationError,
    UnknownBackendError,
    WorkerCrashedError,
)
from parjob.hookspecs import hookimpl
from parjob.parallel import Parallel
from parjob.plugins import list_backends, register_parallel_backend
from parjob.selection import effective_n_jobs
from parjob.serialization import wrap_non_picklable_objects
from parjob.tasks import delayed

try:
    __version__ = metadata.version("parjob")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "CONTRACT_VERSION",
    "Backend",
    "Parallel",
    "PluginError",
    "RemoteTraceback",
    "RunSettings",
    "SerializationError",
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
    "wrap_non_picklable_objects",
]
