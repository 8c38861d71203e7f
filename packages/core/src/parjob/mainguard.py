"""A script that starts worker processes at import time, without the ``__main__`` guard.

Workers started as fresh interpreters (multiprocessing's ``spawn`` and ``forkserver``, dask's
nannies) import the caller's main script again. Code at the script's top level then runs in
every worker, starts workers of its own, and fails deep inside the engine with a wall of
tracebacks. :func:`check_main_guard` sees that case before any process starts, and raises
one error saying what to change.
"""

from __future__ import annotations

import ast
import os
import sys
from functools import lru_cache


class MainGuardError(RuntimeError):
    """Worker processes were asked for at the top level of a script without the guard."""


def check_main_guard(what: str) -> None:
    """Raise :class:`MainGuardError` when called, through any depth of calls, from top-level
    code of the ``__main__`` script outside ``if __name__ == "__main__":``. ``what`` names
    the processes about to start, for the message. Interactive sessions, notebooks,
    ``python -c`` and code run from threads or functions called later are never refused."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path:
        return  # interactive, a notebook, -c: workers do not import a script
    spec_name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if spec_name == "__main__" or spec_name.endswith(".__main__"):
        return  # python -m package: multiprocessing does not run package/__main__.py again
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals is vars(main):
            break
        frame = frame.f_back
    else:
        return  # not while the script's top level runs
    guarded = _guarded_lines(path)
    if guarded is None or frame.f_lineno in guarded:
        return
    shown = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    raise MainGuardError(
        f"{what} would import your script {shown} again, and line {frame.f_lineno} of it, "
        "which starts them, is not under 'if __name__ == \"__main__\":'. Every worker would "
        "run it again and start workers of its own. Put the script's top-level code that "
        "runs Parallel under that guard (or in a function called from it). Threads, the "
        "'loky' backend, and 'multiprocessing' with the fork start method do not need it."
    )


@lru_cache(maxsize=8)
def _guarded_lines(path: str) -> frozenset[int] | None:
    """Line numbers of ``path`` inside an ``if __name__ == "__main__":`` block; None when
    the file cannot be read or parsed (then nothing is refused)."""
    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_main_test(node.test):
            first, last = node.body[0].lineno, node.body[-1].end_lineno or node.lineno
            lines.update(range(first, last + 1))
    return frozenset(lines)


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"``, either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(mains) == 1
