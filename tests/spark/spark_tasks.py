"""Task functions the spark tests send to executors (importable there)."""

from __future__ import annotations

import os
import time
from typing import Any


def local_property(key: str) -> str | None:
    from pyspark import TaskContext

    return TaskContext.get().getLocalProperty(key)


def nested_backend(_: Any) -> tuple[str, int]:
    from parjob import Parallel

    inner = Parallel()
    return inner.backend.name, inner.backend.effective_n_jobs(inner.n_jobs)


def nested_threads(n: int) -> int:
    import threading

    from parjob import Parallel, delayed

    idents = Parallel()(delayed(_ident_after)(0.05) for _ in range(n))
    return len(set(idents)) if threading else 0


def _ident_after(seconds: float) -> int:
    import threading

    time.sleep(seconds)
    return threading.get_ident()


def executor_pid(_: Any) -> int:
    time.sleep(0.2)
    return os.getpid()


def first_value(x: Any, i: int) -> float:
    return float(x[i])


def slow_then(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x


def crash(_: Any) -> None:
    os._exit(3)  # the Python worker dies, as on a segfault or an out-of-memory kill


def fail_once(marker: str) -> str:
    """Fails on its first run (leaving ``marker``), succeeds on the next."""
    if not os.path.exists(marker):
        with open(marker, "w") as handle:
            handle.write("failed once")
        raise RuntimeError("first attempt fails")
    return "ok"


def spark_inside_a_task(_: Any) -> str:
    from parjob import Parallel, delayed

    try:
        Parallel(backend="spark")(delayed(abs)(i) for i in range(2))
    except RuntimeError as exc:
        return str(exc)
    return "ran"
