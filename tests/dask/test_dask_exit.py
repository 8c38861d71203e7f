"""A program that catches Ctrl-C during a call on parjob's own dask cluster and returns
exits at once, and leaves no dask process behind, whether the interrupt came while the
tasks ran (parjob killed the workers, their nannies were starting new ones) or while the
cluster itself was starting."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from parjob import Parallel, delayed, parallel_config

    if __name__ == "__main__":
        warm = sys.argv[1] == "running"
        with parallel_config("dask"):
            if warm:  # the cluster is up: the interrupt comes while the tasks run
                Parallel()(delayed(abs)(-i) for i in range(4))
                # from now on a worker takes ten minutes to boot (see slow_boot.py)
                open(os.environ["PARJOB_SLOW_BOOT"], "w").close()
            threading.Timer(2.0 if warm else 0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
            try:
                Parallel()(delayed(time.sleep)(30) for _ in range(6))
            except KeyboardInterrupt:
                print("interrupted", flush=True)
    """
)


#: a dask worker preload: a worker started once the flag file exists boots for ten minutes
SLOW_BOOT = textwrap.dedent(
    """
    import os, time

    def dask_setup(worker):
        if os.path.exists(os.environ["PARJOB_SLOW_BOOT"]):
            time.sleep(600)
    """
)


def _tagged(tag: str) -> list[int]:
    """Processes whose environment holds ``tag`` (the script and all it started)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    if tag.encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the processes through /proc")
@pytest.mark.parametrize("when", ["running", "starting"])
def test_ctrl_c_then_return_exits_and_leaves_no_dask_process(when: str, tmp_path: Path) -> None:
    script = tmp_path / "interrupted.py"
    script.write_text(SCRIPT)
    (tmp_path / "slow_boot.py").write_text(SLOW_BOOT)
    tag = uuid.uuid4().hex  # inherited by every process the script starts
    env = {
        **os.environ,
        "PARJOB_EXIT_TEST": tag,
        "PARJOB_SLOW_BOOT": str(tmp_path / "slow"),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "DASK_DISTRIBUTED__WORKER__PRELOAD": '["slow_boot"]',
    }
    # After the interrupt parjob kills the workers (to stop their tasks) and their nannies
    # start new ones, which now take ten minutes to boot: the program must not wait for
    # them to exit. The timeout only guards against such a hang (or the 30 s tasks).
    done = subprocess.run(
        [sys.executable, str(script), when], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "interrupted" in done.stdout, done.stderr
    # distributed's exit handler no longer meets a worker between two states, and no
    # nanny start given up on is reported
    assert "AssertionError" not in done.stderr, done.stderr
    assert "Task exception was never retrieved" not in done.stderr, done.stderr
    left = _tagged(tag)
    for _ in range(100):  # a killed process may take a moment to be reaped
        if not left:
            break
        time.sleep(0.1)
        left = _tagged(tag)
    assert not left, f"processes left behind: {left}"
