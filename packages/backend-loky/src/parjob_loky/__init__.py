"""parjob-loky: the local process backends of parjob.

``loky`` (the default once installed) keeps a reusable pool of worker processes;
``multiprocessing`` starts a standard-library process pool per call. Both memory-map large
NumPy arrays, limit native thread pools inside workers, stop workers on a timeout or
Ctrl-C, and name the task whose worker crashed.

Worker processes import :mod:`parjob_loky.worker` only, so this package imports nothing
until one of its names is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LokyBackend", "MultiprocessingBackend", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "LokyBackend":
        from parjob_loky.loky_backend import LokyBackend

        return LokyBackend
    if name == "MultiprocessingBackend":
        from parjob_loky.mp_backend import MultiprocessingBackend

        return MultiprocessingBackend
    if name == "__version__":
        from importlib import metadata

        try:
            return metadata.version("parjob-loky")
        except metadata.PackageNotFoundError:  # running from a source tree
            return "0.0.0"
    raise AttributeError(f"module 'parjob_loky' has no attribute {name!r}")
