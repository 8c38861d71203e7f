"""What a call does when a task fails: ``on_error``, ``retries``, ``retry_on``, ``retry_delay``.

Checked when ``Parallel`` or ``parallel_config`` is built (before any task is dispatched);
the runner applies the policy (see :mod:`parjob.outcomes`).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

ON_ERROR = ("raise", "collect", "skip")
#: a task whose worker died this many times in a row (and never did anything else) is not
#: retried again: it kills every worker it runs on
CRASHES_IN_A_ROW = 2
#: the longest wait between two attempts, however many there were
MAX_RETRY_DELAY = 60.0


@dataclasses.dataclass(frozen=True)
class Policy:
    """A call's failure policy, already checked."""

    on_error: str = "raise"
    #: further attempts after a task's exception, and, counted apart, after its worker died
    retries: int = 0
    #: exception types that make a task run again (a lost worker always may)
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    #: seconds before the first retry, doubling for each further one (at most a minute)
    retry_delay: float = 0.0

    @property
    def is_default(self) -> bool:
        """``on_error="raise"`` without retries: the first failure ends the call, as joblib."""
        return self.on_error == "raise" and self.retries == 0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before running a task again after its ``attempt``-th failure."""
        if not self.retry_delay:
            return 0.0
        return float(min(self.retry_delay * 2 ** (attempt - 1), MAX_RETRY_DELAY))


def check_on_error(value: Any) -> str:
    if value not in ON_ERROR or not isinstance(value, str):
        raise ValueError(f"on_error must be one of {', '.join(map(repr, ON_ERROR))}, got {value!r}")
    return value


def check_retries(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"retries must be an int >= 0 (further attempts per task), got {value!r}")
    return int(value)


def check_retry_on(value: Any) -> tuple[type[BaseException], ...]:
    """An exception type or a tuple of them, as ``except`` takes."""
    kinds = value if isinstance(value, (tuple, list)) else (value,)
    if not kinds or not all(
        isinstance(kind, type) and issubclass(kind, BaseException) for kind in kinds
    ):
        raise TypeError(
            "retry_on must be an exception type or a tuple of them (as `except` takes), "
            f"got {value!r}"
        )
    return tuple(kinds)


def check_retry_delay(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or math.isnan(value)
        or not 0 <= value < math.inf
    ):
        raise ValueError(
            f"retry_delay must be a number of seconds >= 0 (doubled for each further "
            f"attempt), got {value!r}"
        )
    return float(value)


def make_policy(on_error: Any, retries: Any, retry_on: Any, retry_delay: Any) -> Policy:
    """A checked :class:`Policy` from ``Parallel``'s (or a config block's) arguments."""
    if (
        type(on_error) is str
        and on_error == "raise"
        and type(retries) is int
        and retries == 0
        and type(retry_on) is tuple
        and retry_on == _DEFAULT.retry_on
        and type(retry_delay) in (int, float)
        and retry_delay == 0
    ):
        return _DEFAULT  # the usual call: the defaults, already checked
    return Policy(
        check_on_error(on_error),
        check_retries(retries),
        check_retry_on(retry_on),
        check_retry_delay(retry_delay),
    )


_DEFAULT = Policy()


def failure_settings(
    on_error: Any, retries: Any, retry_on: Any, retry_delay: Any
) -> dict[str, Any]:
    """A ``parallel_config`` block's failure settings, checked; None means "not set"."""
    checks = {
        "on_error": check_on_error,
        "retries": check_retries,
        "retry_on": check_retry_on,
        "retry_delay": check_retry_delay,
    }
    given = {
        "on_error": on_error,
        "retries": retries,
        "retry_on": retry_on,
        "retry_delay": retry_delay,
    }
    return {key: checks[key](value) for key, value in given.items() if value is not None}
