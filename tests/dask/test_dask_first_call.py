"""A user's first script on parjob's embedded dask cluster, run as a user runs it.

At ``verbose`` the first call says the cluster is starting (it takes seconds), once; a
task's error reaches the caller once, with no "Compute Failed" record from the worker.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
from parjob import Parallel, delayed


def boom(x):
    raise ValueError(f"bad input {x}")


if __name__ == "__main__":
    for _ in range(2):
        Parallel(backend="dask", verbose=1)(delayed(abs)(-i) for i in range(4))
    try:
        Parallel(backend="dask")(delayed(boom)(i) for i in range(4))
    except ValueError as exc:
        print("caught:", exc)
"""


def test_first_call_says_it_starts_and_a_task_error_is_reported_once(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, "job.py"], cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    starting = [i for i, line in enumerate(lines) if "Starting parjob's local dask cluster" in line]
    using = [i for i, line in enumerate(lines) if "Using backend dask" in line]
    assert len(starting) == 1 and len(using) == 2, done.stderr
    assert starting[0] < using[0]
    assert done.stdout.strip().startswith("caught: bad input")
    assert "Compute Failed" not in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
