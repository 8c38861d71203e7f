"""The first call on Spark says, at ``verbose``, that a session (a JVM) is starting."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from parjob import Parallel, delayed
from parjob_spark import SparkBackend

NOTE = """
from parjob_spark import SparkBackend
print(SparkBackend().startup_note())
print(SparkBackend(remote="sc://spark.example.org:15002").startup_note())
import pyspark, sys
assert pyspark.SparkContext._active_spark_context is None  # asking started nothing
"""


def test_a_session_not_started_yet_is_announced(spark: Any) -> None:
    done = subprocess.run([sys.executable, "-c", NOTE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    local, remote = done.stdout.strip().splitlines()
    assert local.startswith("Starting a Spark session on local[")
    assert remote == "Connecting to Spark Connect at sc://spark.example.org:15002: a few seconds."


def test_nothing_to_say_with_a_session(spark: Any, capsys) -> None:  # type: ignore[no-untyped-def]
    assert SparkBackend().startup_note() is None  # the session's Spark is active
    Parallel(backend="spark", verbose=1)(delayed(abs)(-i) for i in range(4))
    assert "Starting" not in capsys.readouterr().err
