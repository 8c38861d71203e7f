"""Checks for user-supplied parameters: each names the bad value and what is accepted.

They run when ``Parallel`` or ``parallel_config`` is built, before any task is dispatched.
"""

from __future__ import annotations

import ast
import functools
import math
import numbers
import operator
import re
from typing import Any

RETURN_AS = ("list", "generator", "generator_unordered")
PREFER = ("processes", "threads")
REQUIRE = ("sharedmem",)
MMAP_MODES = ("r+", "r", "w+", "c")
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def _is_int(value: Any) -> bool:
    if type(value) is int:  # the usual case, without the slower check against the ABC
        return True
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_n_jobs(n_jobs: Any) -> int | None:
    if n_jobs is None:
        return None
    if type(n_jobs) is not int and not _is_int(n_jobs):
        raise TypeError(
            f"n_jobs must be an int or None, got {n_jobs!r}: use -1 for all CPUs, "
            "-2 for all but one, or a positive count"
        )
    if n_jobs == 0:
        raise ValueError(
            "n_jobs == 0 in Parallel has no meaning: use a positive count, -1 for all CPUs, "
            "-2 for all but one, or None for the configured default"
        )
    return int(n_jobs)


def check_positive_int(name: str, value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_verbose(verbose: Any) -> int:
    if isinstance(verbose, bool):
        return int(verbose)
    if not _is_int(verbose) or verbose < 0:
        raise ValueError(f"verbose must be an int >= 0, got {verbose!r}")
    return int(verbose)


def check_return_as(return_as: Any) -> str:
    if return_as not in RETURN_AS:
        raise ValueError(
            f"return_as must be one of {', '.join(map(repr, RETURN_AS))}, got {return_as!r}"
        )
    return str(return_as)


def check_prefer(prefer: Any) -> str | None:
    if prefer is not None and prefer not in PREFER:
        raise ValueError(
            f"prefer={prefer} is not a valid backend hint: use 'processes', 'threads' or None "
            f"(got {prefer!r})"
        )
    return prefer


def check_require(require: Any) -> str | None:
    if require is not None and require not in REQUIRE:
        raise ValueError(
            f"require={require} is not a valid backend constraint: use 'sharedmem' or None "
            f"(got {require!r})"
        )
    return require


def check_prefer_with_require(prefer: str | None, require: str | None) -> None:
    """``prefer="processes"`` contradicts ``require="sharedmem"`` (processes share nothing)."""
    if prefer == "processes" and require == "sharedmem":
        raise ValueError(
            "prefer='processes' and require='sharedmem' are inconsistent settings: processes "
            "do not share the caller's memory; drop one of them (require='sharedmem' runs "
            "the tasks on threads)"
        )


def check_mmap_mode(mmap_mode: Any) -> str | None:
    if mmap_mode is not None and mmap_mode not in MMAP_MODES:
        raise ValueError(
            f"mmap_mode must be one of None, {', '.join(map(repr, MMAP_MODES))}, got {mmap_mode!r}"
        )
    return mmap_mode


def check_timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, numbers.Real)
        or not timeout > 0
        or math.isnan(timeout)
    ):
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    return float(timeout)


def check_batch_size(batch_size: Any) -> int | str:
    if batch_size == "auto" and isinstance(batch_size, str):
        return "auto"
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be 'auto' or a positive int, got {batch_size!r}")
    return int(batch_size)


def is_mp_context(backend: Any) -> bool:
    """A ``multiprocessing`` context: the multiprocessing backend on its start method."""
    import multiprocessing.context

    return isinstance(backend, multiprocessing.context.BaseContext)


def check_backend_spec(backend: Any) -> None:
    """A backend is given by name, as an instance (anything with ``submit``), or as a
    ``multiprocessing`` context (``multiprocessing.get_context("spawn")``)."""
    if backend is None or isinstance(backend, str) or is_mp_context(backend):
        return
    if not callable(getattr(backend, "submit", None)):
        raise TypeError(
            "backend must be a backend name (str), a parjob Backend instance or a "
            f"multiprocessing context, got {backend!r}"
        )


def parse_nbytes(value: Any) -> int | None:
    """``1000``, ``"1M"``, ``"500k"``, ``"2 GB"`` -> bytes; None stays None (disabled)."""
    if value is None:
        return None
    if _is_int(value):
        if value < 0:
            raise ValueError(f"max_nbytes must be >= 0, got {value!r}")
        return int(value)
    if isinstance(value, str):
        parsed = _size(value)
        if parsed is not None:
            return parsed
    raise ValueError(
        f"max_nbytes must be an int number of bytes, a size such as '1M' or '500k', or None, "
        f"got {value!r}"
    )


@functools.lru_cache(maxsize=32)
def _size(text: str) -> int | None:
    """Bytes in a size such as ``"1M"`` (the same few, call after call); None if it is not one."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?\s*", text.lower())
    return int(float(match.group(1)) * _UNITS[match.group(2)]) if match else None


_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
}


def parse_pre_dispatch(value: Any, n_jobs: int) -> int | None:
    """``"all"`` -> None (no bound); an int; or arithmetic of ``n_jobs`` such as ``"2*n_jobs"``.

    The expression is parsed into a syntax tree and evaluated by hand: never ``eval``.
    """
    if value == "all":
        return None
    if type(value) is str:
        return _pre_dispatch_of(value, n_jobs)
    return _checked_pre_dispatch(value, n_jobs)


@functools.lru_cache(maxsize=64)
def _pre_dispatch_of(value: str, n_jobs: int) -> int | None:
    """``parse_pre_dispatch`` of an expression (the same few, call after call)."""
    return _checked_pre_dispatch(value, n_jobs)


def _checked_pre_dispatch(value: Any, n_jobs: int) -> int | None:
    if _is_int(value):
        result: float = value
    elif isinstance(value, str):
        try:
            result = _evaluate(_parsed(value.strip()), n_jobs)
        except (SyntaxError, ValueError, ZeroDivisionError) as exc:
            raise ValueError(
                f"pre_dispatch must be 'all', an int, or arithmetic of n_jobs such as "
                f"'2 * n_jobs', got {value!r} ({exc})"
            ) from None
    else:
        raise ValueError(f"pre_dispatch must be 'all', an int or an expression, got {value!r}")
    if result < 1:
        raise ValueError(f"pre_dispatch={value!r} gives {result} with n_jobs={n_jobs}; need >= 1")
    return max(int(result), 1)


@functools.lru_cache(maxsize=32)
def _parsed(expression: str) -> ast.AST:
    """The syntax tree of a ``pre_dispatch`` expression (the same few, call after call)."""
    return ast.parse(expression, mode="eval").body


def _evaluate(node: ast.AST, n_jobs: int) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.Name) and node.id == "n_jobs":
        return n_jobs
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.left, n_jobs), _evaluate(node.right, n_jobs))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        operand = _evaluate(node.operand, n_jobs)
        return operand if isinstance(node.op, ast.UAdd) else -operand
    raise ValueError(f"only numbers, n_jobs and + - * / // are allowed, not {ast.dump(node)}")


def check_progress(progress: Any) -> Any:
    """``progress=``: a bool or None, a bar class, an object with ``update``, or a callable."""
    if progress is None or isinstance(progress, bool):
        return bool(progress)
    if callable(progress) or hasattr(progress, "update"):
        return progress
    raise TypeError(
        "progress must be True or False, a tqdm class, a progress bar object with an "
        f"update(n) method, or a callable (done, total); got {progress!r}"
    )


def check_switch(name: str, value: Any) -> bool | None:
    """An on/off option where None means "the backend's default"."""
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name} must be True, False or None, got {value!r}")
    return value


def check_max_tasks_per_worker(value: Any) -> int | None:
    """``max_tasks_per_worker=``: None (workers are never replaced) or an int >= 1."""
    if value is None:
        return None
    if not _is_int(value) or value < 1:
        raise ValueError(
            f"max_tasks_per_worker must be None or an int >= 1 (tasks a worker process runs "
            f"before a fresh one replaces it), got {value!r}"
        )
    return int(value)
