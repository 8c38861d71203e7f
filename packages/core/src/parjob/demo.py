"""``parjob demo``: one representative workload on every installed backend.

The workload mixes CPU-bound pure-Python tasks (where processes shine) with many tiny
tasks (where per-task overhead shows), checks every backend returns the same results,
and prints times and speed-ups against running the same tasks sequentially.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TextIO

from parjob import Parallel, cpu_count, delayed, parallel_config, plugins
from parjob.report import can_run, format_table, install_hint


def spin(steps: int) -> int:
    """A CPU-bound pure-Python task (holds the GIL)."""
    total = 0
    for i in range(steps):
        total += i % 7
    return total


def double(x: int) -> int:
    """A tiny task: dispatch overhead dominates."""
    return x * 2


def _workloads(quick: bool) -> list[tuple[str, list, list]]:
    cpu_tasks = [delayed(spin)(150_000) for _ in range(16 if quick else 64)]
    tiny_tasks = [delayed(double)(i) for i in range(5_000 if quick else 50_000)]
    cpu_expected = [spin(150_000)] * len(cpu_tasks)
    return [
        (f"{len(cpu_tasks)} CPU-bound tasks", cpu_tasks, cpu_expected),
        (f"{len(tiny_tasks)} tiny tasks", tiny_tasks, [x * 2 for x in range(len(tiny_tasks))]),
    ]


def _time(backend: str, tasks: list, expected: list) -> float:
    with parallel_config(backend), Parallel() as parallel:
        parallel(tasks[:4])  # start the workers outside the timing
        began = time.perf_counter()
        results = parallel(tasks)
        seconds = time.perf_counter() - began
    if results != expected:
        raise AssertionError(f"backend {backend!r} returned wrong results")
    return seconds


def run_demo(out: TextIO, only: Sequence[str] | None = None, quick: bool = False) -> int:
    names = list(only) if only else plugins.list_backends()
    # sequential first: it is the baseline the speed-ups are measured against
    names = ["sequential", *(name for name in names if name != "sequential")]
    workloads = _workloads(quick)
    print(f"parjob demo on {cpu_count()} CPUs: {', '.join(w[0] for w in workloads)}\n", file=out)
    header = ["backend"] + [f"{label}: time, speed-up" for label, _, _ in workloads]
    rows = [header]
    baseline: list[float] = []
    failures = 0
    for name in names:
        status = can_run(name)
        if status != "yes":
            rows.append([name, status] + [""] * (len(workloads) - 1))
            continue
        note = plugins.get_factory(name)().startup_note()
        if note:  # an engine that takes seconds to start: say so, so the demo is not "hung"
            print(f"{name}: {note}", file=out, flush=True)
        try:
            times = [_time(name, tasks, expected) for _, tasks, expected in workloads]
        except Exception as exc:
            failures += 1
            rows.append(
                [name, f"failed: {type(exc).__name__}: {exc}"] + [""] * (len(workloads) - 1)
            )
            continue
        if name == "sequential":
            baseline = times
        pairs = zip(times, baseline or times, strict=True)
        cells = [f"{t:7.3f}s  {base / t:5.2f}x" for t, base in pairs]
        rows.append([name, *cells])
    print(format_table(rows), file=out)
    hint = install_hint()
    if hint:
        print("\n" + hint, file=out)
    return 1 if failures else 0
