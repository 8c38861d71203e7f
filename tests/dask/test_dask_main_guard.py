"""A script that starts parjob's local dask cluster at import time gets one clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

UNGUARDED = """
from parjob import Parallel, delayed

print(Parallel(n_jobs=2, backend="dask")(delayed(abs)(-i) for i in range(4)))
"""


def test_embedded_cluster_without_the_guard_says_to_add_it(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(UNGUARDED)
    done = subprocess.run(
        [sys.executable, "job.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    # one traceback, no nanny or worker errors: no process was started
    assert done.stderr.count("Traceback") == 1, done.stderr
    assert "distributed.nanny" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "MainGuardError: parjob's local dask cluster" in last
    assert "job.py" in last and 'if __name__ == "__main__":' in last
