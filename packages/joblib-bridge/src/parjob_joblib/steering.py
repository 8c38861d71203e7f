"""A parjob ``parallel_config`` block steers joblib for the same block.

Entering the block enters a ``joblib.parallel_config`` with the same meaning, and leaving
it leaves that one, which restores joblib's previous configuration. joblib keeps its
configuration per thread, and parjob tells plugins of a block in the thread that enters it
(``parjob.blocks``), so nesting and threads line up.

A block naming a backend makes joblib run on that parjob backend (an
:class:`~parjob_joblib.adapter.ParjobBackend` built from the settings in force, backend
parameters such as ``scatter=`` included); a block that names none passes on only what
it sets (``n_jobs``, ``verbose``, ``prefer``, ...), and joblib keeps its current backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: settings with the same name and meaning in joblib's parallel_config
_SAME = ("n_jobs", "verbose", "temp_folder", "max_nbytes", "mmap_mode", "prefer", "require")
#: settings that make the backend be built again from what is in force
_BACKEND = ("backend", "backend_params", "inner_max_num_threads")


def joblib_settings(settings: Mapping[str, Any], block: Mapping[str, Any]) -> dict[str, Any]:
    """The ``joblib.parallel_config`` arguments with the meaning of this parjob block."""
    chosen = {key: block[key] for key in _SAME if key in block}
    backend = settings.get("backend")
    if backend is not None and any(key in block for key in _BACKEND):
        from parjob_joblib.adapter import ParjobBackend

        params = dict(settings.get("backend_params", {}))
        # parjob's rule: a block naming a backend without n_jobs uses all of its workers
        chosen["backend"] = ParjobBackend(
            backend,
            inner_max_num_threads=settings.get("inner_max_num_threads"),
            default_n_jobs=-1,
            **params,
        )
    return chosen


def enter(settings: Mapping[str, Any], block: Mapping[str, Any]) -> Callable[[], None] | None:
    """Enter the joblib block matching this parjob block; what leaves it (None: no block)."""
    from parjob_joblib import registration

    registration.register()  # joblib names for backends registered since the last block
    chosen = joblib_settings(settings, block)
    if not chosen:
        return None
    import joblib

    joblib_block = joblib.parallel_config(**chosen)
    joblib_block.__enter__()

    def leave() -> None:
        joblib_block.__exit__(None, None, None)

    return leave
