"""Seconds per task measured in earlier calls, by the tasks' function.

Code like scikit-learn's makes thousands of small calls of the same function. The first
call probes its tasks' time like any call; a later call of the same function starts from
what was measured, so that a short input whose tasks together take less than about one
batch's overhead goes out as one batch rather than a batch per task (see
``parjob.batching``). Those batches still carry the probing time budget: a function that
has become slow is cut short after its first task and measured afresh.

Functions are known by their code object (a lambda made anew for each call is the same
function here; a bound method is its function). Callables without code of their own
(instances with ``__call__``, builtins) are not remembered. At most ``KEPT`` are kept.
"""

from __future__ import annotations

import functools
import math
import threading
import types
from typing import Any

#: functions remembered (the oldest is forgotten first)
KEPT = 256
#: the shortest time per task kept (a clock's resolution; keeps the geometric mean defined)
_TINY = 1e-9

_lock = threading.Lock()
#: id of a code object -> (that code object, seconds per task); the code object is held so
#: that its id cannot be reused by another while the entry lives
_times: dict[int, tuple[Any, float]] = {}


def _code(function: Any) -> Any:
    if type(function) is types.FunctionType:  # the usual case, without the lookups below
        return function.__code__
    while isinstance(function, functools.partial):
        function = function.func
    try:
        code = getattr(getattr(function, "__func__", function), "__code__", None)
    except Exception:  # an object whose attributes raise: not remembered
        return None
    return code if isinstance(code, types.CodeType) else None


def recall(function: Any) -> float | None:
    """The seconds per task last measured for ``function``'s tasks, or None."""
    code = _code(function)
    if code is None:
        return None
    found = _times.get(id(code))
    return found[1] if found is not None and found[0] is code else None


def remember(function: Any, seconds: float | None) -> None:
    """Keep ``seconds`` per task (measured in a call just ended) for ``function``.

    A function already known keeps the geometric mean of the old and the new time: one call
    slowed down by a busy machine (a preempted worker makes a 1-us task look like 50) does
    not undo what earlier calls measured, and a function that has really become a thousand
    times slower is spread again from the next call on (a small call goes out as one batch
    only while its tasks look far cheaper than a batch).
    """
    code = _code(function)
    if code is None or seconds is None:
        return
    found = _times.get(id(code))
    if found is not None and found[0] is code:
        old, new = found[1], seconds  # (at least _TINY: not max(), which is slow to call)
        blended = math.sqrt((old if old > _TINY else _TINY) * (new if new > _TINY else _TINY))
        _times[id(code)] = (code, blended)  # in place: the dict keeps its size
        return
    with _lock:
        if id(code) not in _times and len(_times) >= KEPT:
            del _times[next(iter(_times))]
        _times[id(code)] = (code, seconds)


def forget() -> None:
    """Forget every measured function (tests)."""
    with _lock:
        _times.clear()
