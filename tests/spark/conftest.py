"""One real ``local[2]`` SparkSession for the whole test session (classic Spark).

Spark runs one SparkContext per process, and a local Spark Connect server needs one of its
own in the process that starts it: the Connect and ``local-cluster`` modules therefore run
in subprocesses (see ``test_spark_subprocess.py``). Every spark test is skipped, with the
reason, when no Java is installed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parjob_spark import session as sessions

#: set in the subprocesses that run the Connect / local-cluster modules
SUBPROCESS = os.environ.get("PARJOB_SPARK_SUBPROCESS", "")
#: the modules in apart/ run only in their subprocesses (test_spark_subprocess.py)
collect_ignore_glob = [] if SUBPROCESS else ["apart/*"]


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    problem = sessions.java_problem()
    if problem is not None:
        pytest.skip(f"spark tests need Java: {problem}")
    if SUBPROCESS == "connect":
        found = sessions.find_session(remote="local[2]")
    elif SUBPROCESS == "cluster":
        found = sessions.find_session(master="local-cluster[2,1,1024]")
    else:
        found = sessions.find_session(master="local[2]")
    # the executors import the tests' task functions from this file
    tasks = str(Path(__file__).with_name("spark_tasks.py"))
    if sessions.is_connect(found):
        found.addArtifacts(tasks, pyfile=True)
    else:
        found.sparkContext.addPyFile(tasks)
    yield found
    sessions.close()


@pytest.fixture(autouse=True)
def nothing_left_behind(spark: Any) -> Iterator[None]:
    yield
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        threads = [t for t in threading.enumerate() if t.name.startswith("parjob-spark")]
        jobs = (
            []
            if sessions.is_connect(spark)
            else spark.sparkContext.statusTracker().getActiveJobsIds()
        )
        if not threads and not jobs:
            return
        time.sleep(0.05)
    raise AssertionError(f"left running: threads {threads}, Spark jobs {jobs}")
