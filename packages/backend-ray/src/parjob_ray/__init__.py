"""parjob-ray: run parjob's ``Parallel`` on a Ray cluster.

Installing it is enough: ``with parallel_config("ray"):`` finds it through the ``parjob``
entry-point group. See :class:`parjob_ray.backend.RayBackend` for its parameters. Ray
itself is imported only when a ray backend is first used.
"""

from __future__ import annotations

import warnings
from importlib import metadata
from typing import Any

try:
    __version__ = metadata.version("parjob-ray")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

_LAZY = {
    "RayBackend": "parjob_ray.backend",
    "close": "parjob_ray.cluster",
}

__all__ = ["RayBackend", "__version__", "close", "register_ray"]

_said = False


def register_ray() -> None:
    """Nothing to do: installing parjob-ray registers the ``ray`` backend.

    Kept for code ported from ``ray.util.joblib.register_ray()``; says so once.
    """
    global _said
    if not _said:
        _said = True
        warnings.warn(
            "parjob_ray.register_ray() is not needed: the 'ray' backend is registered when "
            "parjob-ray is installed; use parallel_config('ray') directly",
            UserWarning,
            stacklevel=2,
        )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'parjob_ray' has no attribute {name!r}")
