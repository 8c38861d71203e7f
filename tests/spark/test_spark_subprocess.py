"""Runs the Spark Connect and ``local-cluster`` modules, each in a subprocess of its own.

A process holds one SparkContext, and a local Spark Connect server (``remote("local[2]")``)
starts one inside the process that asks for it; a classic session and a Connect one cannot
share a process, nor can two masters. So each module gets a fresh interpreter, with
``PARJOB_SPARK_SUBPROCESS`` telling the session fixture which session to start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import SUBPROCESS

HERE = Path(__file__).parent


@pytest.mark.skipif(bool(SUBPROCESS), reason="already in a subprocess")
@pytest.mark.parametrize(
    ("kind", "module"),
    [("connect", "apart/test_spark_connect.py"), ("cluster", "apart/test_spark_cluster.py")],
)
def test_module_in_its_own_process(spark: Any, kind: str, module: str) -> None:
    env = {**os.environ, "PARJOB_SPARK_SUBPROCESS": kind}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(HERE / module), "-q", "-x", "-p", "no:warnings"],
        capture_output=True,
        text=True,
        env=env,
        cwd=HERE.parent.parent,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and " skipped" not in done.stdout.splitlines()[-1]
