"""Which backend a ``Parallel`` uses, and with how many workers.

Order of precedence: the ``backend`` argument; else the innermost ``parallel_config``
(or a worker's nested choice); else the default backend of the preferred kind.
``require="sharedmem"`` overrides a process backend chosen by context, never one passed
explicitly (that is an error). ``prefer`` is only a hint for the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parjob import nesting, plugins, validation
from parjob.backend import Backend
from parjob.backends.sequential import SequentialBackend
from parjob.cpu import gil_enabled


def choose(
    backend: Any,
    n_jobs: int | None,
    prefer: str | None,
    require: str | None,
    backend_kwargs: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> tuple[Backend, int]:
    """The backend instance and the (not yet effective) n_jobs for one ``Parallel``."""
    configured = settings.get("backend")
    config_params: Mapping[str, Any] = settings.get("backend_params") or {}
    context_n_jobs = settings.get("n_jobs")
    if backend is not None:
        params = config_params if configured == backend else {}
        chosen = backend_instance(backend, {**params, **backend_kwargs})
        if require == "sharedmem" and not chosen.uses_threads:
            raise ValueError(
                f"backend {chosen.name!r} does not share memory with the caller, but "
                "require='sharedmem' was given: use a thread-based backend such as 'threading'"
            )
        default = getattr(chosen, "default_n_jobs", 1)
        requested = n_jobs if n_jobs is not None else (context_n_jobs or default)
        return _runnable(chosen, requested)
    if configured is not None:
        default_n_jobs = context_n_jobs if context_n_jobs is not None else -1
        chosen = backend_instance(configured, {**config_params, **backend_kwargs})
        if require == "sharedmem" and not chosen.uses_threads:
            chosen = backend_instance("threading", {})
        return _runnable(chosen, n_jobs if n_jobs is not None else default_n_jobs)
    requested = n_jobs if n_jobs is not None else (context_n_jobs or 1)
    if requested == 1 and not backend_kwargs:
        # one worker runs inline whatever the default backend is, so skip plugin discovery
        return SequentialBackend(), 1
    kind = "threads" if require == "sharedmem" else prefer
    if kind is None and not gil_enabled():
        kind = "threads"  # free-threaded: threads run Python in parallel, and share memory
    return _runnable(
        backend_instance(plugins.default_backend_name(kind), dict(backend_kwargs)), requested
    )


def _runnable(backend: Backend, n_jobs: int) -> tuple[Backend, int]:
    """``backend``, or what runs instead where it cannot start (see ``parjob.nesting``)."""
    if not nesting.starts_processes(backend):  # threads, inline, a cluster: they run anywhere
        return backend, n_jobs
    chosen, chosen_n_jobs = nesting.runnable(backend, n_jobs, _by_name)
    return chosen, chosen_n_jobs if chosen_n_jobs is not None else n_jobs


def _by_name(name: str) -> Backend:
    return backend_instance(name, {})


def backend_instance(backend: Any, params: dict[str, Any]) -> Backend:
    """An instance of ``backend`` (a name, an instance or a multiprocessing context)."""
    if isinstance(backend, str):
        factory = plugins.get_factory(backend)
        try:
            return factory(**params)
        except TypeError as exc:
            raise TypeError(f"cannot create backend {backend!r} with {params!r}: {exc}") from exc
    if validation.is_mp_context(backend):  # as joblib: multiprocessing on that start method
        return backend_instance("multiprocessing", {"context": backend, **params})
    if params:
        raise TypeError(
            f"backend parameters {sorted(params)} were given with a backend instance "
            f"{backend!r}: pass them when you create the instance instead"
        )
    return backend


def effective_n_jobs(n_jobs: int | None = -1) -> int:
    """How many workers ``Parallel(n_jobs=n_jobs)`` would use here, under the current config."""
    from parjob import config

    backend, requested = choose(
        None, validation.check_n_jobs(n_jobs), None, None, {}, config.current()
    )
    return backend.effective_n_jobs(requested)
