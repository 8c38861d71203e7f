"""Task functions for the dask tests (a module the workers can import)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from parjob import Parallel, delayed
from parjob.testing import fail_on, sleep_then, square

__all__ = ["fail_on", "sleep_then", "square"]  # the conformance suite's tasks, re-exported

#: keeps what tasks received alive in the worker, so ids are never reused
_KEPT: list[Any] = []


def where(_: Any = None) -> int:
    return os.getpid()


def held_id(obj: Any) -> tuple[int, int]:
    """Which worker, and which object it got: equal ids mean one worker-side copy."""
    _KEPT.append(obj)
    return os.getpid(), id(obj)


def first_item(obj: Any) -> Any:
    return obj[0]


def interval(seconds: float) -> tuple[float, float]:
    began = time.time()
    time.sleep(seconds)
    return began, time.time()


def backend_name(_: Any = None) -> str:
    return Parallel().backend.name


def fan_out(n: int) -> list[int]:
    """A task that runs its own Parallel on the cluster (nested fan-out)."""
    return Parallel()(delayed(sleep_then)(i * i, 0.05) for i in range(n))


def fan_out_twice(n: int) -> int:
    return sum(sum(part) for part in Parallel()(delayed(fan_out)(n) for _ in range(2)))


def fail_once(path: str) -> str:
    marker = Path(path)
    if not marker.exists():
        marker.write_text("failed once")
        raise RuntimeError("first attempt fails")
    return "ok"


def die(_: Any = None) -> None:
    os._exit(1)


def fan_out_large_array(n: int) -> list[int]:
    """A task that passes a large array to its own nested Parallel (scattered from it)."""
    import numpy as np

    big = np.ones(2**18)
    return Parallel(batch_size=1)(delayed(len)(big) for _ in range(n))


def array_kind(obj: Any) -> tuple[str, bool, str | None]:
    """The array's type, whether it is writeable, and the file it maps (if any)."""
    import numpy as np

    base = obj
    while base is not None and not isinstance(base, np.memmap):
        base = getattr(base, "base", None)
    filename = getattr(base, "filename", None)
    return type(obj).__name__, bool(obj.flags.writeable), filename


def total(obj: Any) -> float:
    return float(sum(obj))


def value_of(obj: dict[str, Any]) -> Any:
    return obj["v"]


def nested_call(backend: str, n_jobs: int) -> dict[str, Any]:
    """Run ``Parallel(backend=backend, n_jobs=n_jobs)`` in a dask task; report what ran."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inner = Parallel(n_jobs=n_jobs, backend=backend)
        results = inner(delayed(square)(i) for i in range(6))
    return {
        "backend": inner.backend.name,
        "results": results,
        "warnings": [str(w.message) for w in caught],
    }


def exit_late(x: int, bad: int, seconds: float) -> int:
    """Sleep, then ``x``, or the worker process ends (``os._exit(3)``) when ``x == bad``:
    the other tasks queue behind it on its worker."""
    time.sleep(seconds)
    if x == bad:
        os._exit(3)
    return x
