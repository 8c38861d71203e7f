"""``max_tasks_per_worker=``: which backends can replace a worker after N tasks.

The backend does the replacing (``Backend.recycles_workers``); the core refuses the option
on other backends before any work, and keeps every batch within N tasks, so a backend that
counts tasks can always hand a batch to a fresh worker without going over the limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from parjob.backend import Backend


def check_supported(backend: Backend, max_tasks: int | None) -> None:
    """Refuse ``max_tasks_per_worker`` on a backend that cannot replace its workers."""
    if max_tasks is None or backend.recycles_workers:
        return
    able = ", ".join(_recycling_backends()) or "none installed"
    raise ValueError(
        f"max_tasks_per_worker={max_tasks} needs a backend that replaces its worker "
        f"processes ({able}), but the call runs on {backend!r}, which cannot; leave "
        "max_tasks_per_worker unset there, or choose one of those backends (and n_jobs > 1 "
        "or an explicit backend, since a call with one worker otherwise runs in the caller)"
    )


def _recycling_backends() -> list[str]:
    """Installed backends whose class says it recycles workers (a property counts)."""
    from parjob import plugins

    names = []
    for name, entry in plugins.entries().items():
        flag = getattr(entry.factory, "recycles_workers", False)
        if flag is True or isinstance(flag, property):
            names.append(name)
    return sorted(names)
