"""Pools start and stop with calls; Ctrl-C, timeouts and dropped generators leave nothing."""

from __future__ import annotations

import gc
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from parjob import Parallel, delayed
from parjob.backends import threadpools
from parjob.testing import sleep_then, square


def parjob_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("parjob-thread")]


def wait_for_no_threads(limit: float = 10.0) -> None:
    threadpools.discard_idle()  # pools kept between calls are idle: what must not remain is more
    deadline = time.monotonic() + limit
    while parjob_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert parjob_threads() == []


def test_threads_are_gone_after_a_call() -> None:
    Parallel(n_jobs=2, backend="threading")(delayed(square)(i) for i in range(100))
    wait_for_no_threads()


def test_threads_are_gone_after_an_error() -> None:
    with pytest.raises(ZeroDivisionError):
        Parallel(n_jobs=2, backend="threading")(delayed(divmod)(1, i) for i in range(-3, 3))
    wait_for_no_threads()


def test_threads_are_gone_after_a_timeout() -> None:
    with pytest.raises(TimeoutError, match=r"timeout=0\.2"):
        Parallel(n_jobs=2, backend="threading", timeout=0.2)(
            delayed(sleep_then)(i, 0.6) for i in range(2)
        )
    wait_for_no_threads()


def test_dropped_generator_releases_workers() -> None:
    out = Parallel(n_jobs=2, backend="threading", return_as="generator")(
        delayed(sleep_then)(i, 0.01) for i in range(100)
    )
    assert next(out) == 0
    del out
    gc.collect()
    wait_for_no_threads()


def test_closed_generator_allows_a_new_call() -> None:
    parallel = Parallel(n_jobs=2, backend="threading", return_as="generator")
    out = parallel(delayed(square)(i) for i in range(100))
    next(out)
    out.close()
    assert list(parallel(delayed(square)(i) for i in range(3))) == [0, 1, 4]


def test_context_manager_keeps_one_pool() -> None:
    with Parallel(n_jobs=2, backend="threading") as parallel:
        executor = parallel.backend._executor
        parallel(delayed(square)(i) for i in range(10))
        parallel(delayed(square)(i) for i in range(10))
        assert parallel.backend._executor is executor
    wait_for_no_threads()


def test_ctrl_c_stops_the_call_promptly() -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from parjob import Parallel, delayed
        def slow(i):
            time.sleep(0.2)
            return i
        print("started", flush=True)
        try:
            Parallel(n_jobs=2, backend="threading")(delayed(slow)(i) for i in range(1000))
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert "interrupted" in out
    assert proc.returncode == 3
