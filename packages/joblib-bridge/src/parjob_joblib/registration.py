"""Every parjob backend under a joblib name: ``joblib.parallel_config("parjob-ray")``."""

from __future__ import annotations

import functools
import threading

from parjob import plugins

PREFIX = "parjob-"
_registered: set[str] = set()
_lock = threading.Lock()


def joblib_name(backend: str) -> str:
    """The joblib name of the parjob backend ``backend``."""
    return PREFIX + backend


def register() -> list[str]:
    """Register each parjob backend found (plugins, third parties' and run-time ones) with
    joblib as ``parjob-<name>``; returns the joblib names. Cheap when nothing is new."""
    names = plugins.list_backends()
    with _lock:
        new = [name for name in names if joblib_name(name) not in _registered]
        if new:
            import joblib

            from parjob_joblib.adapter import ParjobBackend

            for name in new:
                factory = functools.partial(ParjobBackend, name)
                joblib.register_parallel_backend(joblib_name(name), factory)
                _registered.add(joblib_name(name))
    return [joblib_name(name) for name in names]
