"""The first call on Ray says, at ``verbose``, that Ray is starting or being connected to."""

from __future__ import annotations

import subprocess
import sys

from parjob import Parallel, delayed
from parjob_ray import RayBackend

NOTE = """
from parjob_ray import RayBackend
print(RayBackend().startup_note())
print(RayBackend(address="ray://head.example.org:10001").startup_note())
"""


def test_a_ray_not_started_yet_is_announced() -> None:
    # a fresh interpreter, where Ray is not started: asking must not start it
    done = subprocess.run([sys.executable, "-c", NOTE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    local, remote = done.stdout.strip().splitlines()
    assert local.startswith("Starting a local Ray (")
    assert remote == "Connecting to Ray at ray://head.example.org:10001: a few seconds."


def test_nothing_to_say_once_ray_runs(capsys) -> None:  # type: ignore[no-untyped-def]
    assert RayBackend().startup_note() is None  # the session's Ray is running
    Parallel(backend="ray", verbose=1)(delayed(abs)(-i) for i in range(4))
    assert "Starting" not in capsys.readouterr().err
