"""parjob-joblib: joblib-based code (scikit-learn, ...) on any parjob backend.

Installed, it makes every ``parjob.parallel_config(...)`` / ``parallel_backend(...)``
block steer joblib too: ``with parallel_config("dask", scatter=[X, y]):
GridSearchCV(...).fit(X, y)`` runs the fits on parjob's dask backend. Every parjob backend
is also a joblib backend named ``parjob-<name>`` (:func:`register`, done by the first
parjob block), for code that prefers ``joblib.parallel_config("parjob-ray")``.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

try:
    __version__ = metadata.version("parjob-joblib")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = ["ParjobBackend", "__version__", "register"]


def register() -> list[str]:
    """Register every parjob backend with joblib as ``parjob-<name>``; the joblib names."""
    from parjob_joblib import registration

    return registration.register()


def __getattr__(name: str) -> Any:
    if name == "ParjobBackend":
        from parjob_joblib.adapter import ParjobBackend

        return ParjobBackend
    raise AttributeError(f"module 'parjob_joblib' has no attribute {name!r}")
