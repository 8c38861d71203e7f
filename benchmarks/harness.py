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
