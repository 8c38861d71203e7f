"""Telling plugins that a ``parallel_config`` block begins and ends.

Plugins implement the ``parallel_config_entered`` hook (``parjob.hookspecs``); each may
return a callable that is called when that block is left. The callables are kept with the
block's entry (one per ``with``), so nesting, re-entering one config object and threads
each get their own, and they run innermost-first. With no plugin implementing the hook,
entering a block costs one attribute lookup more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Leave = Callable[[], None]


def entered(settings: Mapping[str, Any], block: Mapping[str, Any]) -> tuple[Leave, ...]:
    """Announce a block; what to call when it is left, in the order to call it.

    If a plugin fails, the plugins already told are told the block is left, and the
    plugin's error propagates: the block is not entered.
    """
    from parjob import plugins

    listeners = plugins.block_listeners()
    if not listeners:
        return ()
    leaves: list[Leave] = []
    try:
        for listener in listeners:
            leave = listener(settings=settings, block=block)
            if leave is not None:
                leaves.append(leave)
    except BaseException:
        left(tuple(reversed(leaves)))
        raise
    return tuple(reversed(leaves))


def left(leaves: tuple[Leave, ...]) -> None:
    """Call each of ``leaves``, all of them even if one fails (its error is raised after)."""
    error: BaseException | None = None
    for leave in leaves:
        try:
            leave()
        except BaseException as exc:
            error = error or exc
    if error is not None:
        raise error
