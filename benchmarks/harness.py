"""Benchmark definitions: a workload is one job done several ways, each a 'case'."""

from __future__ import annotations

import dataclasses

#: Task functions the suites share (defined in each case's ``__main__``, as a user would).
DOUBLE = """
def double(x):
    return x * 2
"""

SPIN = """
def spin(n):
    total = 0
    for i in range(n):
        total += i
    return total
"""

#: ``in_chunks(items, parts)``: the floor's few large batches (equal chunks, in order).
IN_CHUNKS = """
def in_chunks(items, parts=4):
    items = list(items)
    size = -(-len(items) // parts)
    return [items[k:k + size] for k in range(0, len(items), size)]
"""

#: One 128 MiB float64 vector ``X`` and ``take(x, i)``, which reads one item of it.
ARRAY_128MB = """
import numpy as np
X = np.random.default_rng(0).random(16 * 1024 * 1024)  # 128 MiB of float64
def take(x, i):
    return float(x[i])
"""


@dataclasses.dataclass(frozen=True)
class Case:
    """One way of doing a workload: ``code`` is timed, ``setup`` (run first) is not."""

    code: str
    setup: str = ""


@dataclasses.dataclass(frozen=True)
class Workload:
    """A job measured side by side. ``setup`` runs before every case's own setup.

    ``metric`` is ``"seconds"`` (wall time of ``code``) or ``"peak_mb"`` (the process's
    peak resident memory after ``code``, in MiB). ``target`` is shown under the table.
    """

    name: str
    cases: dict[str, Case | str]
    setup: str = ""
    metric: str = "seconds"
    target: str = ""

    def case(self, label: str) -> Case:
        value = self.cases[label]
        return value if isinstance(value, Case) else Case(value)
