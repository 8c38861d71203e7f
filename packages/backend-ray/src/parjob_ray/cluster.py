"""Which Ray cluster parjob uses, and parjob's own embedded one.

In order: the connection the user already made (``ray.init`` called, or this code runs
inside a Ray task); the ``address=`` backend parameter; ``RAY_ADDRESS``; else an embedded
local Ray started on first use, sized to this machine, without the dashboard, quiet and on
loopback as far as Ray allows, reused across calls and shut down at exit. parjob shuts down
only a Ray it started itself.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from parjob.cpu import cpu_count

_lock = threading.Lock()
#: parjob started the Ray this process is connected to (so parjob shuts it down)
_embedded = False
_atexit_registered = False

#: what the embedded Ray is started with: environment variables its processes inherit,
#: and the ``ray_constants`` attribute that reads each one when ray is imported (and that
#: this process needs set, whether or not ray was imported already)
_QUIET_ENVIRONMENT = {
    # no usage report sent over the network from a Ray the user did not ask for
    "RAY_USAGE_STATS_ENABLED": ("0", None),
    # on Linux Ray replaces a loopback node address by the machine's address unless it
    # runs as on macOS and Windows, where a single-machine Ray stays on loopback
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": ("0", "ENABLE_RAY_CLUSTER"),
    # under `uv run`, Ray would copy the working directory and build a new environment
    # for its workers (~20 s); this machine's workers run this interpreter as it is
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": ("0", "RAY_ENABLE_UV_RUN_RUNTIME_ENV"),
}


def in_task() -> bool:
    """Whether this code runs inside a Ray task or actor (a connected Ray worker)."""
    import ray

    if not ray.is_initialized():
        return False
    return bool(ray.get_runtime_context().worker.mode == ray.WORKER_MODE)


def connect(address: str | None = None) -> None:
    """Make sure this process is connected to a Ray cluster (see the module docstring)."""
    import ray

    if ray.is_initialized():
        return
    with _lock:
        if ray.is_initialized():
            return
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address is not None:
            ray.init(address=address, logging_level=logging.ERROR)
        else:
            _start_embedded()


def startup_note(address: str | None = None) -> str | None:
    """What :func:`connect` with ``address`` is about to do when it takes seconds, else None."""
    import ray

    if ray.is_initialized():
        return None
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        return f"Connecting to Ray at {address}: a few seconds."
    return f"Starting a local Ray ({cpu_count()} CPUs): a few seconds, once per process."


def _start_embedded() -> None:
    global _embedded
    import ray

    with _quiet_environment():
        ray.init(
            num_cpus=cpu_count(),
            include_dashboard=False,
            logging_level=logging.ERROR,  # no "Started a local Ray instance" banner
            _node_ip_address="127.0.0.1",
        )
    _embedded = True
    _register_atexit()


@contextlib.contextmanager
def _quiet_environment() -> Iterator[None]:
    """The settings above while the embedded Ray starts (its processes keep them); a
    value the user set in the environment wins."""
    from ray._private import ray_constants

    saved_env = {name: os.environ.get(name) for name in _QUIET_ENVIRONMENT}
    saved_constants: dict[str, Any] = {}
    for name, (value, constant) in _QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
        if constant is not None and hasattr(ray_constants, constant):
            saved_constants[constant] = getattr(ray_constants, constant)
            setattr(ray_constants, constant, os.environ[name].lower() in ("1", "true"))
    try:
        yield
    finally:
        for name, saved in saved_env.items():
            if saved is None:
                os.environ.pop(name, None)
        for constant, saved in saved_constants.items():
            setattr(ray_constants, constant, saved)


def started_by_parjob() -> bool:
    """Whether the Ray this process is connected to is parjob's embedded one."""
    import ray

    return _embedded and ray.is_initialized()


def close() -> None:
    """Shut down parjob's embedded Ray, if parjob started one (never the user's)."""
    global _embedded
    with _lock:
        if not _embedded:
            return
        _embedded = False
        import ray

        with contextlib.suppress(Exception):  # already going away at interpreter exit
            ray.shutdown()


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(close)
        _atexit_registered = True


def total_resources() -> dict[str, Any]:
    """The cluster's resources now (a cluster that grew shows its new nodes)."""
    import ray

    return dict(ray.cluster_resources())
