"""``parallel_config`` and ``parallel_backend``: defaults for every ``Parallel`` in a block.

The active configuration lives in a :class:`contextvars.ContextVar`, so blocks nest and
are private to each thread and asyncio task. Inside a worker, the running batch installs
its backend's nested choice the same way (:func:`enter_worker`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import Any

from parjob import validation

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_UNSET = object()
_current: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "parjob_config", default=_EMPTY
)


def current() -> Mapping[str, Any]:
    """The configuration in force here: only the keys some block has set."""
    return _current.get()


class Default:
    """A documented default that a caller did not override (shown as its value)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


def chosen(value: Any, settings: Mapping[str, Any], key: str) -> Any:
    """``value`` if the caller gave one, else the configured ``key``, else the default."""
    if isinstance(value, Default):
        return settings.get(key, value.value)
    return value


class parallel_config:
    """Set defaults for ``Parallel`` calls made inside the ``with`` block.

    ``backend`` is a backend name or instance. Naming a backend without ``n_jobs`` uses all of
    its workers. Extra keyword arguments are passed to the backend when it is created.
    """

    def __init__(
        self,
        backend: Any = None,
        *,
        n_jobs: int | None = None,
        verbose: int | None = None,
        temp_folder: str | None = None,
        max_nbytes: int | str | None = Default(None),  # type: ignore[assignment]
        mmap_mode: str | None = Default(None),  # type: ignore[assignment]
        prefer: str | None = None,
        require: str | None = None,
        inner_max_num_threads: int | None = None,
        **backend_params: Any,
    ) -> None:
        validation.check_backend_spec(backend)
        if n_jobs is not None:
            validation.check_n_jobs(n_jobs)
        settings = {
            "backend": backend,
            "n_jobs": n_jobs,
            "verbose": validation.check_verbose(verbose) if verbose is not None else None,
            "temp_folder": temp_folder,
            "max_nbytes": _UNSET
            if isinstance(max_nbytes, Default)
            else validation.parse_nbytes(max_nbytes),
            "mmap_mode": _UNSET
            if isinstance(mmap_mode, Default)
            else validation.check_mmap_mode(mmap_mode),
            "prefer": validation.check_prefer(prefer),
            "require": validation.check_require(require),
            "inner_max_num_threads": (
                validation.check_positive_int("inner_max_num_threads", inner_max_num_threads)
                if inner_max_num_threads is not None
                else None
            ),
        }
        # None means "not set", except for max_nbytes and mmap_mode, where None disables
        # memory-mapping: those two use a marker for "not set" instead
        keep_none = ("max_nbytes", "mmap_mode")
        self.settings = {
            key: value
            for key, value in settings.items()
            if value is not _UNSET and (value is not None or key in keep_none)
        }
        if backend_params:
            self.settings["backend_params"] = dict(backend_params)
        self._tokens: list[contextvars.Token[Mapping[str, Any]]] = []

    def __enter__(self) -> parallel_config:
        backend = self.settings.get("backend")
        if isinstance(backend, str):
            from parjob import plugins

            plugins.get_factory(backend)  # an unknown name fails here, not at the first call
        self._tokens.append(_current.set(_merge(_current.get(), self.settings)))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _current.reset(self._tokens.pop())


def parallel_backend(
    backend: Any,
    n_jobs: int = -1,
    inner_max_num_threads: int | None = None,
    **backend_params: Any,
) -> parallel_config:
    """The older form of :class:`parallel_config`: a backend, by default with all its workers."""
    return parallel_config(
        backend, n_jobs=n_jobs, inner_max_num_threads=inner_max_num_threads, **backend_params
    )


def _merge(outer: Mapping[str, Any], inner: Mapping[str, Any]) -> Mapping[str, Any]:
    merged = dict(outer)
    merged.pop("in_worker", None)
    if "backend" in inner:
        # Parameters belong to the backend they were given with: a new backend drops them.
        merged.pop("backend_params", None)
    merged.update(inner)
    if "backend_params" in inner and "backend_params" in outer and "backend" not in inner:
        merged["backend_params"] = {**outer["backend_params"], **inner["backend_params"]}
    return MappingProxyType(merged)


def enter_worker(backend: str, n_jobs: int) -> contextvars.Token[Mapping[str, Any]]:
    """Make ``backend`` with ``n_jobs`` the default for ``Parallel`` calls inside a task."""
    nested = {"backend": backend, "n_jobs": n_jobs, "in_worker": True}
    return _current.set(MappingProxyType(nested))


def leave_worker(token: contextvars.Token[Mapping[str, Any]]) -> None:
    _current.reset(token)
