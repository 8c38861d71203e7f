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
from parjob.warn import warn_user

ENTRY_POINT_GROUP = "parjob"
#: Backends that have a plugin of ours, and what to install for them.
KNOWN_PLUGINS = {
    "loky": "parjob[loky]",
    "multiprocessing": "parjob[loky]",
    "dask": "parjob[dask]",
    "ray": "parjob[ray]",
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
        #: installed plugins that PARJOB_LOAD_PLUGINS left out ("entry point (distribution)")
        self.left_out: list[str] = []
        #: the plugins' ``parallel_config_entered`` hooks, in pluggy's calling order
        self.block_listeners: tuple[Callable[..., Any], ...] = ()


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
        for entry_point in _selected_entry_points(reg):
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
        hooks = manager.hook.parallel_config_entered.get_hookimpls()
        reg.block_listeners = tuple(impl.function for impl in reversed(hooks))
        reg.manager = manager
        reg.loaded = True
    return reg


def _selected_entry_points(reg: _Registry) -> list[metadata.EntryPoint]:
    """The installed entry points PARJOB_LOAD_PLUGINS selects (all when it is unset).

    The others are recorded in ``reg.left_out`` (error messages name the filter), and a
    name in the variable that matches no installed plugin is warned about.
    """
    found = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    chosen = os.environ.get("PARJOB_LOAD_PLUGINS")
    if chosen is None:
        return found
    wanted = [name.strip() for name in chosen.split(",") if name.strip()]
    names = {ep: {ep.name, _dist_name(ep)} - {""} for ep in found}
    selected = [ep for ep in found if names[ep] & set(wanted)]
    reg.left_out = [_describe_entry_point(ep) for ep in found if ep not in selected]
    known = set().union(*names.values()) if names else set()
    unmatched = [name for name in wanted if name not in known]
    if unmatched:
        installed = ", ".join(_describe_entry_point(ep) for ep in found) or "none"
        warn_user(
            f"PARJOB_LOAD_PLUGINS={chosen!r} names {', '.join(map(repr, unmatched))}, which "
            f"match no installed parjob plugin (by entry-point or distribution name); "
            f"installed plugins: {installed}"
        )
    return selected


def _dist_name(entry_point: metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    return dist.name if dist is not None else ""


def _describe_entry_point(entry_point: metadata.EntryPoint) -> str:
    dist = _dist_name(entry_point)
    return f"{entry_point.name} ({dist})" if dist else entry_point.name


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


def block_listeners() -> tuple[Callable[..., Any], ...]:
    """The plugins' ``parallel_config_entered`` hooks (see ``parjob.blocks``)."""
    return _load().block_listeners


def broken_plugins() -> list[BrokenPlugin]:
    return list(_load().broken.values())


def list_backends() -> list[str]:
    """Names of the backends that can be used here, sorted."""
    return sorted(entries())


def get_factory(name: str) -> BackendFactory:
    """The factory for backend ``name``, or an error that says what to do instead."""
    reg = _load()
    # as entries(), run-time registrations over plugins, without copying them (every call)
    found = reg.runtime_backends.get(name) or reg.plugin_backends.get(name)
    if found is not None:
        return found.factory
    if name in reg.broken:
        raise PluginError(f"backend {name!r} is unavailable: {reg.broken[name].error}")
    installed = ", ".join(list_backends()) or "none"
    message = f"Invalid backend: {name!r} is unknown; installed backends: {installed}."
    if reg.left_out:
        chosen = os.environ.get("PARJOB_LOAD_PLUGINS", "")
        message += (
            f" PARJOB_LOAD_PLUGINS={chosen!r} left out the installed plugins "
            f"{', '.join(reg.left_out)}: add the one that provides {name!r} to that variable, "
            "or unset it to load every plugin."
        )
    elif name in KNOWN_PLUGINS:
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


def current_registry() -> _Registry:
    """The registry as it is now, loaded or not (``parjob.observe`` asks without loading)."""
    return _registry
