"""A script that starts a spawn process pool at import time gets one error naming the guard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

UNGUARDED = """
import multiprocessing
from parjob import Parallel, delayed

print(Parallel(n_jobs=2, backend=multiprocessing.get_context("spawn"))(
    delayed(abs)(-i) for i in range(4)))
"""


def _run(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "job.py").write_text(source)
    return subprocess.run(
        [sys.executable, "job.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_spawn_pool_without_the_guard_says_to_add_it(tmp_path: Path) -> None:
    done = _run(tmp_path, UNGUARDED)
    assert done.returncode == 1
    assert done.stderr.count("Traceback") == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "MainGuardError" in last and "start method 'spawn'" in last
    assert "line 5 of it" in last and 'if __name__ == "__main__":' in last


def test_spawn_pool_with_the_guard_runs(tmp_path: Path) -> None:
    guarded = UNGUARDED.replace("\nprint(", '\nif __name__ == "__main__":\n  print(')
    done = _run(tmp_path, guarded)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 1, 2, 3]"


def test_loky_needs_no_guard(tmp_path: Path) -> None:
    done = _run(tmp_path, UNGUARDED.replace('multiprocessing.get_context("spawn")', '"loky"'))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 1, 2, 3]"
