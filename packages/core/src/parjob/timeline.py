"""Pictures of a call: the text report, a text timeline, and a matplotlib timeline."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parjob.summary import RunSummary


def labels(summary: RunSummary) -> dict[str, str]:
    """Short names for the workers: ``pid:thread`` when they share one host."""
    hosts = {worker.split(":", 1)[0] for worker in summary.workers}
    if len(hosts) != 1:
        return {worker: worker for worker in summary.workers}
    return {worker: worker.split(":", 1)[-1] or "?" for worker in summary.workers}


def report(summary: RunSummary) -> str:
    """The readable summary ``str(Parallel.last_run)`` prints."""
    s = summary
    state = "" if s.error is None else f" (ended early: {s.error})"
    lines = [
        f"{s.tasks} tasks in {s.batches} batches on {s.backend} (n_jobs={s.n_jobs}), "
        f"{s.elapsed:.3f}s, workers busy {s.busy:.0%}{state}",
        "batch sizes: " + (", ".join(f"{n} x{k}" for n, k in s.batch_sizes.items()) or "-"),
    ]
    if s.failures or s.retries:
        lines.append(f"failures: {s.failures}, retries: {s.retries}")
    if s.workers:
        names = labels(s)
        width = max(len("worker"), *map(len, names.values()))
        lines.append(f"{'worker':<{width}}  batches    tasks  starting   working   waiting")
        for worker, time in sorted(s.workers.items(), key=lambda item: names[item[0]]):
            lines.append(
                f"{names[worker]:<{width}}  {time.batches:7d}  {time.tasks:7d}  "
                f"{time.starting:7.3f}s  {time.working:7.3f}s  {time.waiting:7.3f}s"
            )
    if s.slowest:
        lines.append("slowest tasks:")
        for task in s.slowest:
            each = " each" if task.tasks > 1 else ""
            lines.append(f"  task {task.index}: {task.seconds:.4f}s{each}  {task.call}")
    return "\n".join(lines)


def as_text(summary: RunSummary, width: int = 60) -> str:
    """A row per worker, ``#`` where it ran a batch, over the call's elapsed time."""
    if not summary.spans or summary.elapsed <= 0:
        return "(no batches)"
    names = labels(summary)
    scale = width / summary.elapsed
    rows: dict[str, list[str]] = {worker: [" "] * width for worker in summary.workers}
    for span in summary.spans:
        row = rows.setdefault(span.worker, [" "] * width)
        first = min(int(span.began * scale), width - 1)
        last = min(max(int((span.began + span.seconds) * scale), first), width - 1)
        for k in range(first, last + 1):
            row[k] = "#"
    label_width = max(map(len, names.values()), default=1)
    out = [
        f"{names.get(worker, worker):<{label_width}} |{''.join(row)}|"
        for worker, row in sorted(rows.items(), key=lambda item: names.get(item[0], item[0]))
    ]
    out.append(f"{'':<{label_width}}  0s{f'{summary.elapsed:.3f}s':>{width - 2}}")
    return "\n".join(out)


def plot(summary: RunSummary, path: Any = None, ax: Any = None) -> Any:
    """Draw the timeline with matplotlib: one row per worker, one bar per batch."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            'drawing a timeline needs matplotlib: pip install "parjob[timeline]" '
            "(or use Parallel.last_run.timeline_text())"
        ) from None
    names = labels(summary)
    workers = sorted(summary.workers, key=lambda worker: names[worker])
    rows = {worker: k for k, worker in enumerate(workers)}
    figure = None
    if ax is None:
        figure = Figure(figsize=(9, 1.2 + 0.45 * max(len(workers), 1)), layout="constrained")
        ax = figure.add_subplot()
    colors = ("tab:blue", "tab:cyan")
    for k, span in enumerate(summary.spans):
        ax.broken_barh(
            [(span.began, max(span.seconds, summary.elapsed / 2000))],
            (rows[span.worker] - 0.4, 0.8),
            facecolors=colors[k % 2],
        )
    ax.set_yticks(range(len(workers)), [names[worker] for worker in workers])
    ax.set_xlim(0, max(summary.elapsed, 1e-6))
    ax.set_xlabel("seconds since the call began")
    ax.set_ylabel(
        "worker (pid:thread)" if len({w.split(":", 1)[0] for w in workers}) == 1 else "worker"
    )
    ax.set_title(
        f"{summary.tasks} tasks in {summary.batches} batches on {summary.backend} "
        f"(n_jobs={summary.n_jobs}), busy {summary.busy:.0%}"
    )
    if path is not None:
        (figure or ax.figure).savefig(os.fspath(path))
        return path
    return figure if figure is not None else ax
