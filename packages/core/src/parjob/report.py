"""``parjob backends``: every backend found, where it comes from, what it can do.

Also the small text helpers the demo shares: an aligned table and the install hint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from parjob import plugins


def can_run(name: str) -> str:
    """ "yes", or why the backend cannot be created here."""
    try:
        plugins.get_factory(name)()
    except Exception as exc:
        return f"no: {type(exc).__name__}: {exc}"
    return "yes"


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns; the last column is not padded (it may be long)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def install_hint() -> str:
    """How to get the known backends that are not installed ('' when all are)."""
    installed = plugins.entries()
    missing = sorted(
        {extra for name, extra in plugins.KNOWN_PLUGINS.items() if name not in installed}
    )
    return "More backends: " + ", ".join(f'pip install "{m}"' for m in missing) if missing else ""


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
    print(format_table(rows), file=out)
    hint = install_hint()
    if hint:
        print("\n" + hint, file=out)
    return 0
