"""``parjob demo``: one representative workload on every installed backend.

The workload mixes CPU-bound pure-Python tasks (where processes shine) with many tiny
tasks (where per-task overhead shows), checks every backend returns the same results,
and prints times and speed-ups against running the same tasks sequentially. A progress
bar shows each timed run (on stderr; ``progress=False`` hides it). ``timeline`` saves the
picture of when each batch of the CPU-bound workload ran on which worker of one backend
(matplotlib; a text picture where it is not installed) and prints that run's summary.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

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


def _time(backend: str, tasks: list, expected: list, progress: bool) -> tuple[float, Any]:
    """Seconds the tasks took on ``backend``, and the run's ``last_run`` summary."""
    with parallel_config(backend), Parallel() as parallel:
        parallel(tasks[:4])  # start the workers outside the timing
        parallel.progress = progress
        began = time.perf_counter()
        results = parallel(tasks)
        seconds = time.perf_counter() - began
    if results != expected:
        raise AssertionError(f"backend {backend!r} returned wrong results")
    return seconds, parallel.last_run


def save_timeline(summary: Any, path: Path, out: TextIO) -> Path:
    """Save ``summary``'s timeline to ``path`` (text when matplotlib is missing)."""
    try:
        summary.plot_timeline(path)
    except ImportError as exc:
        path = path.with_suffix(".txt")
        path.write_text(summary.timeline_text() + "\n")
        print(f"{exc}; wrote a text timeline instead", file=out)
    return path


def run_demo(
    out: TextIO,
    only: Sequence[str] | None = None,
    quick: bool = False,
    progress: bool = True,
    timeline: Path | None = None,
    timeline_backend: str | None = None,
) -> int:
    names = list(only) if only else plugins.list_backends()
    if timeline is not None and timeline_backend is None:
        timeline_backend = plugins.default_backend_name()
    if timeline_backend is not None and timeline_backend not in names:
        names.append(timeline_backend)
    # sequential first: it is the baseline the speed-ups are measured against
    names = ["sequential", *(name for name in names if name != "sequential")]
    workloads = _workloads(quick)
    print(f"parjob demo on {cpu_count()} CPUs: {', '.join(w[0] for w in workloads)}\n", file=out)
    header = ["backend"] + [f"{label}: time, speed-up" for label, _, _ in workloads]
    rows = [header]
    baseline: list[float] = []
    failures = 0
    pictured = None
    for name in names:
        status = can_run(name)
        if status != "yes":
            rows.append([name, status] + [""] * (len(workloads) - 1))
            continue
        note = plugins.get_factory(name)().startup_note()
        if note:  # an engine that takes seconds to start: say so, so the demo is not "hung"
            print(f"{name}: {note}", file=out, flush=True)
        try:
            runs = [_time(name, tasks, expected, progress) for _, tasks, expected in workloads]
        except Exception as exc:
            failures += 1
            rows.append(
                [name, f"failed: {type(exc).__name__}: {exc}"] + [""] * (len(workloads) - 1)
            )
            continue
        times = [seconds for seconds, _ in runs]
        if name == timeline_backend:
            pictured = runs[0][1]  # the CPU-bound workload's run
        if name == "sequential":
            baseline = times
        pairs = zip(times, baseline or times, strict=True)
        cells = [f"{t:7.3f}s  {base / t:5.2f}x" for t, base in pairs]
        rows.append([name, *cells])
    print(format_table(rows), file=out)
    if timeline is not None and pictured is not None:
        saved = save_timeline(pictured, timeline, out)
        print(f"\n{timeline_backend}, {workloads[0][0]}:\n{pictured}", file=out)
        print(f"timeline saved to {saved}", file=out)
    elif timeline is not None:
        print(f"\nno timeline: backend {timeline_backend!r} did not run", file=out)
        failures += 1
    hint = install_hint()
    if hint:
        print("\n" + hint, file=out)
    return 1 if failures else 0
