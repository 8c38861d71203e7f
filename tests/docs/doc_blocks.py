"""The runnable ```python blocks of the docs pages, read as a Markdown reader sees them.

A block runs unless the line just before its fence is ``<!-- docs-test: skip ... -->``.
Blocks nested inside a longer fence (an example of Markdown shown in Markdown) are text.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b")
_FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")


def pages() -> list[Path]:
    """Every page of the site (the plugin template's files are not pages)."""
    return sorted(DOCS.glob("*.md"))


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(first line number, source)`` of each block to run, in page order."""
    blocks: list[tuple[int, str]] = []
    lines = text.splitlines()
    fence: str | None = None
    runs = False
    start = 0
    body: list[str] = []
    for number, line in enumerate(lines, 1):
        found = _FENCE.match(line.lstrip())
        if fence is None:
            if found:
                fence = found.group(1)
                previous = next((x for x in reversed(lines[: number - 1]) if x.strip()), "")
                runs = found.group(2) == "python" and not SKIP.search(previous)
                start, body = number + 1, []
        elif found and found.group(1).startswith(fence) and not found.group(2):
            if runs:
                blocks.append((start, "\n".join(body)))
            fence = None
        else:
            body.append(line)
    return blocks


def script(page: Path) -> str:
    """The page's blocks as one script; blank lines keep each block at its page line number,
    so a traceback points into the page."""
    out: list[str] = []
    for start, source in python_blocks(page.read_text()):
        out.extend([""] * (start - 1 - len(out)))
        out.extend(source.splitlines())
    return "\n".join(out) + "\n"
