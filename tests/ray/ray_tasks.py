"""Task functions for the Ray tests (sent to workers by value, see conftest)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np

from parjob import Parallel, delayed
from parjob.testing import CustomError


def square(x: int) -> int:
    return x * x


def spin(seconds: float) -> float:
    """Busy Python code for ``seconds`` (Ray can interrupt it, unlike a sleep)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return seconds


def array_view(array: np.ndarray, i: int) -> tuple[bool, bool, float]:
    """(writeable, owns its memory, one value): a zero-copy array from the object store is
    read-only and a view of shared memory."""
    return bool(array.flags.writeable), bool(array.flags.owndata), float(array[i])


def object_id(obj: Any) -> int:
    return id(obj)


def node_and_value(array: np.ndarray, i: int) -> tuple[str, float, bool]:
    import ray

    time.sleep(0.05)
    node = ray.get_runtime_context().get_node_id()
    return node, float(array[i]), bool(array.flags.writeable)


def die_once(marker: str, value: int) -> int:
    """Kill this worker process the first time (marker file absent), then succeed."""
    if not os.path.exists(marker):
        with open(marker, "w") as handle:
            handle.write("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return value


def die(_: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return 0


def resources_seen(_: int) -> dict[str, float]:
    import ray

    return dict(ray.get_runtime_context().get_assigned_resources())


def nested(depth: int, width: int) -> int:
    """A Parallel call inside a task, ``depth`` levels deep, ``width`` tasks each."""
    if depth == 0:
        time.sleep(0.01)
        return 1
    return sum(Parallel()(delayed(nested)(depth - 1, width) for _ in range(width)))


def in_ray_task(_: int) -> str:
    import ray

    return ray.get_runtime_context().get_task_id() or ""


def boom_on(x: int, bad: int) -> int:
    """Raise an exception type of the tests' own (importable by workers: it must unpickle
    as itself in the caller) on ``bad``."""
    if x == bad:
        raise CustomError(x)
    return x


def span(seconds: float) -> tuple[float, float]:
    """When this task started and ended (wall clock, comparable across processes)."""
    start = time.time()
    spin(seconds)
    return start, time.time()


def wait_for_file(path: str, seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if os.path.exists(path):
            return "gate opened"
        time.sleep(0.01)
    return "gave up waiting"


def first_item_sum(items: list[np.ndarray], scale: np.ndarray) -> float:
    return float(items[0].sum() + scale.sum())


def lookup(table: dict[str, list[int]], key: str) -> int:
    return table[key][-1]


def node_id(_: int) -> str:
    import ray

    return ray.get_runtime_context().get_node_id()
