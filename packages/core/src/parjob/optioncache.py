"""The checked options of ``Parallel(...)``, kept by their arguments and configuration.

Code like scikit-learn's builds a new ``Parallel`` with the same arguments for each of
thousands of small calls: the options are checked and resolved once per set of arguments
and ``parallel_config`` block, and later instances copy the result. Only what the checks
accepted is kept (a bad value raises on every instance), and only for arguments and
settings that are plain immutable values (no callback, initializer, backend instance or
parameter is kept alive here).

Arguments are found by equality but must be the very same objects: the same call site
passes the same ones (the defaults, literals), and an equal value of another kind
(``True`` where ``1`` was given) is checked afresh.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Mapping
from typing import Any, NamedTuple

from parjob.config import Default


class Arguments(NamedTuple):
    """The arguments of ``Parallel(...)`` that its options are checked from (all but the
    backend, ``n_jobs`` and ``pre_dispatch``)."""

    return_as: Any
    verbose: Any
    timeout: Any
    batch_size: Any
    temp_folder: Any
    max_nbytes: Any
    mmap_mode: Any
    prefer: Any
    require: Any
    progress: Any
    on_error: Any
    retries: Any
    retry_on: Any
    retry_delay: Any
    seed: Any
    seed_globals: Any
    initializer: Any
    initargs: Any
    relay_logs: Any
    relay_output: Any
    max_tasks_per_worker: Any


#: sets of options kept (the oldest is forgotten first)
KEPT = 32

#: (id of the settings, arguments) -> (the settings, the arguments, the options)
_known: dict[tuple[Any, ...], tuple[Mapping[str, Any], tuple[Any, ...], tuple[Any, ...]]] = {}
_is = operator.is_


def recall(settings: Mapping[str, Any], arguments: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The options kept for these very ``arguments`` under these very ``settings``, or None."""
    try:
        found = _known.get((id(settings), arguments))
    except Exception:  # an unhashable argument (or one whose hash or == fails): never kept
        return None
    if found is None or found[0] is not settings or not all(map(_is, found[1], arguments)):
        return None
    return found[2]


def remember(
    settings: Mapping[str, Any], arguments: tuple[Any, ...], options: tuple[Any, ...]
) -> None:
    """Keep ``options``, checked for ``arguments`` under ``settings`` (when both hold only
    plain values: a block's backend instance or parameters are never kept alive here)."""
    if not all(map(_plain, arguments)) or not all(map(_plain, settings.values())):
        return
    if len(_known) >= KEPT:
        with contextlib.suppress(KeyError, StopIteration, RuntimeError):  # (other threads)
            del _known[next(iter(_known))]
    _known[(id(settings), arguments)] = (settings, arguments, options)


def _plain(value: Any) -> bool:
    """Whether ``value`` holds nothing mutable (a tuple's items are looked at too)."""
    if type(value) is tuple:
        return all(map(_plain, value))
    return type(value) in _PLAIN


def forget() -> None:
    """Forget every kept set of options (tests)."""
    _known.clear()


#: the types of arguments whose options are kept (``type``: an exception class)
_PLAIN = frozenset({type(None), bool, int, float, str, tuple, type, Default})
