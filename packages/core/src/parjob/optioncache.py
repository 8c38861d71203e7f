"""The checked options of ``Parallel(...)``, kept by their arguments and configuration.

Code like scikit-learn's builds a new ``Parallel`` with the same arguments for each of
thousands of small calls: the options are checked and resolved once per set of arguments
and ``parallel_config`` block, and later instances copy the result. Only what the checks
accepted is kept (a bad value raises on every instance), and only for arguments that are
plain values (the same value of the same type gives the same options; no callback or
initializer is kept alive here).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from parjob.config import Default

#: sets of options kept (the oldest is forgotten first)
KEPT = 32

#: (id of the settings, arguments, their types) -> (those settings, the options)
_known: dict[tuple[Any, ...], tuple[Mapping[str, Any], dict[str, Any]]] = {}


def key(settings: Mapping[str, Any], arguments: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """What the options of ``arguments`` under ``settings`` are kept by; None: not kept."""
    types = tuple(map(type, arguments))
    if not _PLAIN.issuperset(types):
        return None
    found = (id(settings), arguments, types)
    try:
        hash(found)
    except TypeError:  # an unhashable value in a tuple
        return None
    return found


#: the types of arguments whose options are kept (``type``: an exception class)
_PLAIN = frozenset({type(None), bool, int, float, str, tuple, type, Default})


def recall(settings: Mapping[str, Any], where: tuple[Any, ...] | None) -> dict[str, Any] | None:
    """The options kept under ``where`` for these very ``settings``, or None."""
    if where is None:
        return None
    found = _known.get(where)
    return found[1] if found is not None and found[0] is settings else None


def remember(
    settings: Mapping[str, Any], where: tuple[Any, ...] | None, options: dict[str, Any]
) -> None:
    """Keep ``options``, checked for the arguments of ``where`` under ``settings``."""
    if where is None:
        return
    if len(_known) >= KEPT:
        with contextlib.suppress(KeyError, StopIteration, RuntimeError):  # (other threads)
            del _known[next(iter(_known))]
    _known[where] = (settings, options)


def forget() -> None:
    """Forget every kept set of options (tests)."""
    _known.clear()
