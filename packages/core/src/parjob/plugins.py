"""Finding backends: built-ins, ``parjob`` entry-point plugins, and run-time registrations.

One pluggy ``PluginManager`` loads, on first use, the built-in backends and every
installed plugin (or only those named in ``PARJOB_LOAD_PLUGINS``, comma-separated, so tests
and bug reports can run with a known set; an empty value loads none). A plugin that fails
to import, or speaks another backend contract, is recorded with its error instead of
breaking parjob; asking for its backend raises that error.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from importlib import metadata
from typing import Any

import pluggy

from parjob import hookspecs
from parjob.backend import CONTRACT_VERSION, SUPPORTED_CONTRACTS, Backend
from parjob.errors import PluginError, UnknownBackendError

ENTRY_POINT_GROUP = "parjob"
#: Backends that have a plugin of ours, and what to install for them.
KNOWN_PLUGINS = {
    "loky": "parjob[loky]",
    "multiprocessing": "parjob[loky]",
    "dask": "parjob[dask]",
    "spark": "parjob[spark]",
}

BackendFactory = Callable[..., Backend]


@dataclasses.dataclass(frozen=True)
class BackendEntry:
    """A registered backend: where it comes from and how to make one."""

    name: str
    factory: BackendFactory
    source: str
    version: str
    contract: int


@dataclasses.dataclass(frozen=True)
class BrokenPlugin:
    name: str
    source: str
    error: str


class _Registry:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.loaded = False
        self.manager: pluggy.PluginManager | None = None
        self.plugin_backends: dict[str, BackendEntry] = {}
        self.runtime_backends: dict[str, BackendEntry] = {}
        self.broken: dict[str, BrokenPlugin] = {}
        self.default_name: str | None = None


_registry = _Registry()


def _core_version() -> str:
    try:
        return metadata.version("parjob")
    except metadata.PackageNotFoundError:
        return "unknown"


def _load() -> _Registry:
    reg = _registry
    if reg.loaded:
        return reg
    with reg.lock:
        if reg.loaded:
            return reg
        manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
        manager.add_hookspecs(hookspecs)
        from parjob import backends as builtin

        manager.register(builtin, name="parjob")
        sources = {"parjob": ("parjob", _core_version())}
        for entry_point in _selected_entry_points():
            dist = getattr(entry_point, "dist", None)
            source = (dist.name, dist.version) if dist else (entry_point.name, "unknown")
            try:
                manager.register(entry_point.load(), name=entry_point.name)
            except Exception as exc:
                reg.broken[entry_point.name] = BrokenPlugin(
                    entry_point.name, source[0], f"{type(exc).__name__}: {exc}"
                )
                continue
            sources[entry_point.name] = source
        for impl in manager.hook.register_backends.get_hookimpls():
            source, version = sources.get(impl.plugin_name, (impl.plugin_name, "unknown"))
            try:
                impl.function(register=_plugin_register(reg, source, version))
            except Exception as exc:
                reg.broken[impl.plugin_name] = BrokenPlugin(
                    impl.plugin_name, source, f"{type(exc).__name__}: {exc}"
                )
        reg.manager = manager
        reg.loaded = True
    return reg


def _selected_entry_points() -> list[metadata.EntryPoint]:
    found = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    chosen = os.environ.get("PARJOB_LOAD_PLUGINS")
    if chosen is None:
        return found
    wanted = {name.strip() for name in chosen.split(",") if name.strip()}
    return [
        ep
        for ep in found
        if ep.name in wanted or (getattr(ep, "dist", None) and ep.dist.name in wanted)
    ]


def _plugin_register(reg: _Registry, source: str, version: str) -> Callable[..., None]:
    def register(name: str, factory: BackendFactory, *, contract: int) -> None:
        if contract not in SUPPORTED_CONTRACTS:
            reg.broken[name] = BrokenPlugin(
                name,
                source,
                f"{source} {version} provides backend {name!r} for backend contract {contract}, "
                f"but parjob {_core_version()} speaks contract "
                f"{', '.join(map(str, sorted(SUPPORTED_CONTRACTS)))}. Install a {source} "
                f"release made for this parjob, or a parjob that supports contract {contract}.",
            )
            return
        reg.plugin_backends[name] = BackendEntry(name, factory, source, version, contract)

    return register


def register_parallel_backend(
    name: str, factory: BackendFactory, make_default: bool = False
) -> None:
    """Register ``factory`` (a Backend class or a callable returning one) under ``name``.

    A backend registered this way wins over a plugin's backend of the same name;
    ``make_default`` makes it the backend ``Parallel`` uses when nothing else is chosen.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"backend name must be a non-empty str, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory must be a Backend class or a callable, got {factory!r}")
    reg = _load()
    with reg.lock:
        reg.runtime_backends[name] = BackendEntry(name, factory, "runtime", "", CONTRACT_VERSION)
        if make_default:
            reg.default_name = name


def entries() -> dict[str, BackendEntry]:
    """Every usable backend by name, run-time registrations over plugins."""
    reg = _load()
    with reg.lock:
        return {**reg.plugin_backends, **reg.runtime_backends}


def broken_plugins() -> list[BrokenPlugin]:
    return list(_load().broken.values())


def list_backends() -> list[str]:
    """Names of the backends that can be used here, sorted."""
    return sorted(entries())


def get_factory(name: str) -> BackendFactory:
    """The factory for backend ``name``, or an error that says what to do instead."""
    found = entries().get(name)
    if found is not None:
        return found.factory
    reg = _load()
    if name in reg.broken:
        raise PluginError(f"backend {name!r} is unavailable: {reg.broken[name].error}")
    installed = ", ".join(list_backends()) or "none"
    message = f"unknown backend {name!r}; installed backends: {installed}."
    if name in KNOWN_PLUGINS:
        message += f' The {name!r} backend is a plugin: pip install "{KNOWN_PLUGINS[name]}"'
    else:
        message += " Register your own with parjob.register_parallel_backend(name, factory)."
    raise UnknownBackendError(message)


def default_backend_name(prefer: str | None = None) -> str:
    """The backend used when neither ``Parallel`` nor a config block names one.

    A ``make_default`` registration wins; otherwise the highest ``default_priority``
    among backends of the preferred kind (threads or processes).
    """
    reg = _load()
    if reg.default_name is not None and prefer is None:
        return reg.default_name
    ranked: list[tuple[int, str]] = []
    for name, entry in entries().items():
        priority = getattr(entry.factory, "default_priority", None)
        if priority is None:
            continue
        threads = bool(getattr(entry.factory, "uses_threads", False))
        if prefer == "threads" and not threads:
            continue
        if prefer == "processes" and threads:
            priority -= 1000  # no process backend installed: fall back to threads
        ranked.append((priority, name))
    return max(ranked)[1] if ranked else "threading"


def _reset_for_tests() -> None:
    """Forget everything loaded, so the next use loads again (tests only)."""
    global _registry
    _registry = _Registry()


def describe(entry: BackendEntry) -> dict[str, Any]:
    """Capabilities of a backend, for ``parjob backends``."""
    factory = entry.factory
    return {
        "threads": bool(getattr(factory, "uses_threads", False)),
        "serializes": bool(getattr(factory, "serializes", True)),
        "local": bool(getattr(factory, "local", True)),
        "interrupt": bool(getattr(factory, "can_interrupt", False)),
    }
