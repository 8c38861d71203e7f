"""How a failed task's exception and traceback travel from a worker to the caller.

Under ``on_error="collect"`` a run may fail thousands of times, so each failure must be
cheap: its traceback is formatted once in the worker (the stack of a task failing again and
again at the same place is formatted only the first time), and its exception is pickled
once, into bytes the transport copies as they are, whatever pickler the backend uses. The
caller unpickles them, and only there do we learn whether the exception travelled whole.
"""

from __future__ import annotations

import builtins
import pickle
import traceback
from typing import Any

#: formatted stacks by the frames they come from: a task failing many times in one place
#: (under on_error="collect") is formatted once; only its last line (the message) differs.
#: (Forgotten all at once when full: a worker lives long, its tasks change.)
_stacks: dict[tuple[Any, ...], str] = {}
_STACKS_KEPT = 256

_GROUP = getattr(builtins, "BaseExceptionGroup", None)  # Python 3.11+
#: worded by ``traceback`` itself: groups list their members, syntax errors show the line
_WORDED_BY_TRACEBACK = (SyntaxError,) if _GROUP is None else (SyntaxError, _GROUP)


def format_traceback(exc: BaseException) -> str:
    """``exc`` with its traceback, as ``traceback.format_exception`` words it."""
    if (
        exc.__cause__ is not None
        or (exc.__context__ is not None and not exc.__suppress_context__)
        or isinstance(exc, _WORDED_BY_TRACEBACK)
    ):
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    key = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        # what the formatted frame shows; not the code object itself: each batch a process
        # worker unpickles brings its own copy of the task's function
        key.append((code.co_filename, code.co_name, tb.tb_lineno, tb.tb_lasti))
        tb = tb.tb_next
    found = tuple(key)
    stack = _stacks.get(found)
    if stack is None:
        stack = "".join(traceback.format_tb(exc.__traceback__))
        if len(_stacks) >= _STACKS_KEPT:
            _stacks.clear()
        _stacks[found] = stack
    head = "Traceback (most recent call last):\n" if key else ""
    return head + stack + last_line(exc)


def last_line(exc: BaseException) -> str:
    """``traceback.format_exception_only(type(exc), exc)``, joined, for the usual exception
    without that function's cost (it builds a whole ``TracebackException``)."""
    kind = type(exc)
    module = kind.__module__
    if hasattr(exc, "__notes__") or not isinstance(module, str) or isinstance(exc, SyntaxError):
        return "".join(traceback.format_exception_only(kind, exc))
    name = kind.__qualname__
    if module not in ("__main__", "builtins"):
        name = f"{module}.{name}"
    try:
        text = str(exc)
    except Exception:
        text = "<exception str() failed>"
    return f"{name}: {text}\n" if text else f"{name}\n"


#: a built-in exception travels as its class's name and its arguments when these are all of
#: these types: no pickling at all (most failures are a ValueError, KeyError, ... with a message)
_PLAIN = frozenset({str, int, float, bool, bytes, type(None)})

#: an exception on its way: pickled, or a built-in one as ``(class name, args)``
Packed = bytes | tuple[str, tuple[Any, ...]]


def dump_exception(exc: BaseException) -> Packed | None:
    """``exc`` ready to travel (without its traceback, which travels as text), or None when
    it cannot. A built-in exception with plain arguments travels as they are; others are
    pickled, with the standard pickler first (several times faster than cloudpickle, and
    enough unless the exception's class was defined in ``__main__`` or a notebook)."""
    exc.__traceback__ = None  # where tblib is installed (dask), it would be pickled too
    kind = type(exc)
    if kind.__module__ == "builtins" and exc.__cause__ is None and exc.__context__ is None:
        reduced = exc.__reduce__()  # (class, args), or with a state (attributes, notes)
        if (
            len(reduced) == 2
            and reduced[0] is kind
            and getattr(builtins, kind.__name__, None) is kind
            and set(map(type, reduced[1])) <= _PLAIN
        ):
            return (kind.__name__, reduced[1])
    try:
        return pickle.dumps(exc, pickle.HIGHEST_PROTOCOL)
    except Exception:
        pass
    try:
        import cloudpickle

        return cloudpickle.dumps(exc, pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]
    except Exception:
        return None


def load_exception(data: Packed | None) -> tuple[BaseException | None, str]:
    """The exception ``data`` holds, or None and why not (it could not be pickled in the
    worker, or it does not unpickle here: a class whose ``__init__`` needs other arguments
    than the exception's ``args``, a module this process cannot import)."""
    if data is None:
        return None, "could not be pickled"
    try:
        if isinstance(data, tuple):
            name, args = data
            loaded = getattr(builtins, name)(*args)
        else:
            loaded = pickle.loads(data)
    except Exception as exc:
        return None, f"could not be unpickled: {type(exc).__name__}: {exc}"
    if not isinstance(loaded, BaseException):
        return None, f"unpickled as a {type(loaded).__name__}"
    return loaded, ""
