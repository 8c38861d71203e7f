"""A process forked after a dask client existed (a pre-fork server, ``multiprocessing``
with fork) inherits client objects whose event-loop thread stayed in the parent. parjob's
own cluster is started afresh in the child; a user's client gives a clear error. Never a
hang: every child is waited for with a timeout (issue 16, item 5)."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import dask_tasks as t
import psutil
import pytest

from parjob import Parallel, delayed

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

SCRIPT = textwrap.dedent(
    """
    import json, multiprocessing, os, queue
    import parjob_dask
    from parjob import Parallel, delayed

    def square(x):
        return x * x

    def child(results):
        try:
            out = Parallel(backend="dask")(delayed(square)(i) for i in range(6))
            cluster = parjob_dask.embedded_cluster()
            pids = [p.pid for p in __import__("psutil").Process().children(recursive=True)]
            results.put(("ok", out, cluster.scheduler_address, pids))
        except BaseException as exc:
            results.put(("error", repr(exc), None, []))

    if __name__ == "__main__":
        before = Parallel(backend="dask")(delayed(square)(i) for i in range(6))
        address = parjob_dask.embedded_cluster().scheduler_address
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        process = context.Process(target=child, args=(results,))
        process.start()
        try:
            outcome = results.get(timeout=120)
        except queue.Empty:
            outcome = ("hang", None, None, [])
        process.join(30)
        if process.is_alive():
            process.kill()
        after = Parallel(backend="dask")(delayed(square)(i) for i in range(6))
        print(json.dumps({
            "before": before, "after": after, "parent": address,
            "exitcode": process.exitcode, "child": outcome,
        }))
    """
)


def test_a_forked_child_starts_its_own_embedded_cluster(tmp_path: Any) -> None:
    script = tmp_path / "forked.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PARJOB_MAX_CPU_COUNT": "1"}  # one worker per cluster
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=240, env=env
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    status, out, address, pids = report["child"]
    assert status == "ok", out
    assert out == report["before"] == report["after"] == [i * i for i in range(6)]
    assert address != report["parent"]  # a cluster of the child's own
    assert report["exitcode"] == 0
    deadline = time.monotonic() + 30  # the child closed its cluster when it ended
    while any(psutil.pid_exists(pid) for pid in pids):
        assert time.monotonic() < deadline, "the child's cluster outlived it"
        time.sleep(0.1)


def _call_in_child(results: Any) -> None:
    try:
        results.put(("ok", Parallel(backend="dask")(delayed(t.square)(i) for i in range(3))))
    except BaseException as exc:
        results.put((type(exc).__name__, str(exc)))


def test_a_users_client_from_before_the_fork_is_a_clear_error() -> None:
    # this test process has the session's default client, made before the fork
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    process = context.Process(target=_call_in_child, args=(results,))
    process.start()
    try:
        kind, message = results.get(timeout=60)
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()
    assert kind == "RuntimeError"
    assert "before this process was forked" in message
