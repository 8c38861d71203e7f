"""Make joblib's public ``Parallel`` API resolve to parjob's, in this process and its workers.

Installed by ``tools/joblib_tests.py`` (through a ``sitecustomize`` on ``PYTHONPATH``, so
worker processes that import joblib's test modules get parjob too). A meta-path hook lets
``joblib.parallel`` load as usual, then swaps its public names (``Parallel``, ``delayed``,
``parallel_config``, ...) and its table of backends for parjob's before ``joblib`` itself
re-exports them. The rest of joblib (``Memory``, ``dump``, its backend base classes, its
test helpers) stays real.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

#: joblib.parallel's public names that parjob provides
_PARALLEL_NAMES = (
    "Parallel",
    "delayed",
    "parallel_config",
    "parallel_backend",
    "effective_n_jobs",
    "register_parallel_backend",
    "cpu_count",
)


def _parjob_backends() -> dict[str, Any]:
    from parjob.backends.sequential import SequentialBackend
    from parjob.backends.threads import ThreadingBackend
    from parjob_loky import LokyBackend, MultiprocessingBackend

    return {
        "threading": ThreadingBackend,
        "sequential": SequentialBackend,
        "multiprocessing": MultiprocessingBackend,
        "loky": LokyBackend,
    }


class _Backends(dict):  # type: ignore[type-arg]
    """joblib's table of backends, kept in step with parjob's run-time registrations.

    Tests register backends by setting items (``monkeypatch.setitem(BACKENDS, ...)``) and
    remove them by deleting them; parjob sees the same.
    """

    def __setitem__(self, name: str, factory: Any) -> None:
        from parjob.plugins import register_parallel_backend

        super().__setitem__(name, factory)
        register_parallel_backend(name, factory)

    def __delitem__(self, name: str) -> None:
        from parjob import plugins

        super().__delitem__(name)
        plugins.entries()  # loaded
        plugins._registry.runtime_backends.pop(name, None)


class _ParallelModule(ModuleType):
    """``joblib.parallel`` whose ``DEFAULT_BACKEND``, when a test sets it, is parjob's too."""

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "DEFAULT_BACKEND":
            from parjob import plugins

            plugins.entries()  # loaded
            plugins._registry.default_name = value


def _register(module: ModuleType) -> Any:
    import parjob

    def register_parallel_backend(name: str, factory: Any, make_default: bool = False) -> None:
        parjob.register_parallel_backend(name, factory, make_default)
        dict.__setitem__(module.BACKENDS, name, factory)
        if make_default:
            module.DEFAULT_BACKEND = name  # parjob's default too (_ParallelModule)

    return register_parallel_backend


def _get_active_backend(
    prefer: str | None = None, require: str | None = None, verbose: Any = False
) -> tuple[Any, Any]:
    """joblib's ``get_active_backend``: the backend ``Parallel()`` would use here, and the
    configured n_jobs (the test helpers read it to check what config blocks set)."""
    from parjob import config, plugins, selection

    settings = config.current()
    n_jobs = settings.get("n_jobs")
    if settings.get("backend") is None:  # no block names one: parjob's default backend
        kind = "threads" if require == "sharedmem" else prefer
        backend = selection.backend_instance(plugins.default_backend_name(kind), {})
        return backend, n_jobs
    backend, _ = selection.choose(None, None, prefer, require, {}, settings)
    return backend, n_jobs


def _patch_parallel(module: ModuleType) -> None:
    import parjob

    for name in _PARALLEL_NAMES:
        setattr(module, name, getattr(parjob, name))
    backends = _parjob_backends()
    module.BACKENDS = _Backends(backends)
    module.register_parallel_backend = _register(module)
    module.get_active_backend = _get_active_backend
    module.__class__ = _ParallelModule
    module.DEFAULT_BACKEND = "loky"
    backends_module = sys.modules.get("joblib._parallel_backends")
    if backends_module is not None:
        # tests import the backend classes by name to pass instances or check types
        for joblib_name, ours in (
            ("ThreadingBackend", "threading"),
            ("SequentialBackend", "sequential"),
            ("MultiprocessingBackend", "multiprocessing"),
            ("LokyBackend", "loky"),
        ):
            setattr(backends_module, joblib_name, backends[ours])
    for name in ("ThreadingBackend", "SequentialBackend", "MultiprocessingBackend", "LokyBackend"):
        if hasattr(module, name):
            setattr(module, name, getattr(backends_module, name))


def _patch_dask(module: ModuleType) -> None:
    from parjob_dask.backend import DaskBackend

    module.DaskDistributedBackend = DaskBackend


_PATCHES = {"joblib.parallel": _patch_parallel, "joblib._dask": _patch_dask}


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, patch: Any) -> None:
        self.loader = loader
        self.patch = patch

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        self.patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        patch = _PATCHES.get(name)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


def install() -> None:
    """Hook joblib's imports (before joblib is imported; a no-op when already hooked)."""
    if any(isinstance(finder, _Finder) for finder in sys.meta_path):
        return
    if any(name in sys.modules for name in _PATCHES):
        raise RuntimeError("install the joblib shim before joblib is imported")
    sys.meta_path.insert(0, _Finder())
