"""``parjob backends``: every backend found, where it comes from, what it can do."""

from __future__ import annotations

from typing import TextIO

from parjob import plugins


def can_run(name: str) -> str:
    """"yes", or why the backend cannot be created here."""
    try:
        plugins.get_factory(name)()
    except Exception as exc:
        return f"no: {type(exc).__name__}: {exc}"
    return "yes"


def print_backends(out: TextIO) -> int:
    rows = [("backend", "package", "kind", "capabilities", "runs here")]
    for name, entry in sorted(plugins.entries().items()):
        caps = plugins.describe(entry)
        kind = "threads" if caps["threads"] else ("processes" if caps["local"] else "cluster")
        flags = [flag for flag in ("serializes", "interrupt") if caps[flag]]
        package = f"{entry.source} {entry.version}".strip()
        rows.append((name, package, kind, ", ".join(flags) or "-", can_run(name)))
    for broken in plugins.broken_plugins():
        rows.append((broken.name, broken.source, "?", "-", f"no: {broken.error}"))
    widths = [max(len(row[i]) for row in rows[:-1] or rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        print("  ".join([*cells, row[4]]), file=out)
    missing = sorted(
        {extra for name, extra in plugins.KNOWN_PLUGINS.items() if name not in plugins.entries()}
    )
    if missing:
        print("\nMore backends: " + ", ".join(f'pip install "{m}"' for m in missing), file=out)
    return 0
