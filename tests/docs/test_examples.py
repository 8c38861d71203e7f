"""Every ```python example of the docs runs, and the site builds with ``mkdocs build --strict``.

The examples of one page run in order as one script, in a fresh interpreter, from a
temporary folder, as a reader pasting them into a file would run them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from doc_blocks import ROOT, pages, python_blocks, script

RUNNABLE = [page for page in pages() if python_blocks(page.read_text())]


@pytest.mark.parametrize("page", RUNNABLE, ids=[page.name for page in RUNNABLE])
def test_examples_run(page: Path, tmp_path: Path) -> None:
    path = tmp_path / page.name.replace(".md", ".py").replace("-", "_")
    path.write_text(script(page))
    done = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"{page.name}'s examples failed:\n{done.stderr[-4000:]}"


def test_site_builds_strictly(tmp_path: Path) -> None:
    config, site = str(ROOT / "mkdocs.yml"), str(tmp_path / "site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", config, "-d", site],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "site" / "api" / "index.html").read_text().count("Parallel") > 5


def test_a_skip_comment_keeps_a_block_from_running() -> None:
    text = "\n".join(
        [
            "```python",
            "ran = 1",
            "```",
            "<!-- docs-test: skip (needs a cluster) -->",
            "```python",
            "skipped = 1",
            "```",
            "````markdown",
            "```python",
            "shown_as_text = 1",
            "```",
            "````",
            "```toml",
            "not_python = 1",
            "```",
        ]
    )
    assert python_blocks(text) == [(2, "ran = 1")]
