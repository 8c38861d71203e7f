"""``parallel_config`` and ``parallel_backend``: defaults for every ``Parallel`` in a block.

The active configuration lives in a :class:`contextvars.ContextVar`, so blocks nest and
are private to each thread and asyncio task. Inside a worker, the running batch installs
its backend's nested choice the same way (``parjob.workerside``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import Any

from parjob import state, validation
from parjob.policy import failure_settings
from parjob.state import Nested
from parjob.workerside import enter_worker, leave_worker, nesting_level, worker

__all__ = [
    "Nested",
    "enter_worker",
    "leave_worker",
    "nesting_level",
    "parallel_backend",
    "parallel_config",
    "worker",
]

_UNSET = object()
_current = state.settings


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
    if type(value) is Default:  # (never subclassed: the cheaper check)
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
        progress: Any = None,
        on_error: str | None = None,
        retries: int | None = None,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] | None = None,
        retry_delay: float | None = None,
        relay_logs: bool | None = None,
        relay_output: bool | None = None,
        max_tasks_per_worker: int | None = None,
        **backend_params: Any,
    ) -> None:
        validation.check_backend_spec(backend)
        validation.check_prefer_with_require(prefer, require)
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
            "progress": validation.check_progress(progress) if progress is not None else None,
            **failure_settings(on_error, retries, retry_on, retry_delay),
            "relay_logs": validation.check_switch("relay_logs", relay_logs),
            "relay_output": validation.check_switch("relay_output", relay_output),
            "max_tasks_per_worker": validation.check_max_tasks_per_worker(max_tasks_per_worker),
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
        #: per entry (a config object may be entered again, or in several threads): the
        #: token that restores the outer config, and what plugins asked to be called on exit
        self._tokens: list[tuple[contextvars.Token[Mapping[str, Any]], tuple[Any, ...]]] = []

    def __enter__(self) -> Mapping[str, Any]:
        """Enter the block; returns the settings now in force, as joblib's does.

        ``config["backend"]`` is an instance of the configured backend (None when no block
        names one), ``config["n_jobs"]`` the configured n_jobs (None when unset).
        """
        backend = self.settings.get("backend")
        if isinstance(backend, str):
            from parjob import plugins

            plugins.get_factory(backend)  # an unknown name fails here, not at the first call
        merged = _merge(_current.get(), self.settings)
        active = _active(merged)
        token = _current.set(merged)
        from parjob import blocks

        try:
            leaves = blocks.entered(merged, self.settings)  # plugins hear of the block
        except BaseException:
            _current.reset(token)
            raise
        self._tokens.append((token, leaves))
        return active

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, leaves = self._tokens.pop()
        try:
            if leaves:
                from parjob import blocks

                blocks.left(leaves)
        finally:
            _current.reset(token)


class parallel_backend(parallel_config):
    """The older form of :class:`parallel_config`: a backend, by default with all its workers.

    ``with parallel_backend("threading", n_jobs=2) as (backend, n_jobs):`` unpacks the
    backend instance and n_jobs, as joblib's does.
    """

    def __init__(
        self,
        backend: Any,
        n_jobs: int = -1,
        inner_max_num_threads: int | None = None,
        **backend_params: Any,
    ) -> None:
        super().__init__(
            backend, n_jobs=n_jobs, inner_max_num_threads=inner_max_num_threads, **backend_params
        )

    def __enter__(self) -> tuple[Any, int | None]:  # type: ignore[override]
        active = super().__enter__()
        return active["backend"], active["n_jobs"]


#: what ``parallel_config(...) as config`` shows for a setting no block has set
_SHOWN_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "backend": None,
        "n_jobs": None,
        "verbose": 0,
        "temp_folder": None,
        "max_nbytes": 1024**2,
        "mmap_mode": "r",
        "prefer": None,
        "require": None,
        "inner_max_num_threads": None,
        "progress": False,
        "on_error": "raise",
        "retries": 0,
        "retry_on": (Exception,),
        "retry_delay": 0.0,
        "relay_logs": None,
        "relay_output": None,
        "max_tasks_per_worker": None,
    }
)


def _active(settings: Mapping[str, Any]) -> Mapping[str, Any]:
    """The settings in force, every key present, with the backend as an instance."""
    shown = {**_SHOWN_DEFAULTS, **settings}
    shown.pop("in_worker", None)
    params = shown.pop("backend_params", {})
    if shown["backend"] is not None:
        from parjob.selection import backend_instance

        shown["backend"] = backend_instance(shown["backend"], dict(params))
    return MappingProxyType(shown)


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
