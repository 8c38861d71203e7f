"""Past one machine: a head and one more node (``ray.cluster_utils.Cluster``).

The checks run in a separate process (two_nodes.py): Ray allows one connection per
process and this session holds one to its own Ray. A subprocess keeps the two apart
whatever order the tests run in, and its Ray goes away with it even if a check hangs
or crashes, instead of restarting the session's Ray in between.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("two_nodes.py")
ENVIRONMENT = {
    # as parjob's embedded Ray: loopback addresses, no usage report, this interpreter
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
}


@pytest.fixture(scope="module")
def checks() -> dict[str, dict[str, object]]:
    env = {**os.environ, **ENVIRONMENT}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            results[record["check"]] = record
    assert results, f"no check ran (exit {done.returncode}):\n{done.stderr[-3000:]}"
    return results


def outcome(checks: dict[str, dict[str, object]], name: str) -> str:
    record = checks.get(name)
    assert record is not None, f"check {name!r} did not run"
    assert record["ok"], record["detail"]
    return str(record["detail"])


@pytest.mark.slow
def test_n_jobs_minus_one_counts_every_node_and_follows_growth(checks: dict) -> None:
    assert outcome(checks, "n_jobs counts one node") == "1"
    assert outcome(checks, "n_jobs counts both nodes") == "3"


@pytest.mark.slow
def test_large_array_reaches_tasks_on_both_nodes_through_the_object_store(checks: dict) -> None:
    assert outcome(checks, "large array reaches both nodes") == "2 nodes"


@pytest.mark.slow
def test_error_on_another_node_is_the_users_type(checks: dict) -> None:
    assert outcome(checks, "error from the other node") == "CustomError"


@pytest.mark.slow
def test_timeout_cancels_tasks_on_another_node(checks: dict) -> None:
    assert outcome(checks, "timeout cancels on the other node") == "cancelled"


@pytest.mark.slow
def test_parjob_never_shuts_down_a_ray_it_did_not_start(checks: dict) -> None:
    assert outcome(checks, "close leaves the user's Ray") == "still connected"


@pytest.mark.slow
def test_ray_address_from_the_environment_is_used(checks: dict) -> None:
    assert outcome(checks, "RAY_ADDRESS is used") == "connected"


@pytest.mark.slow
def test_a_retry_runs_on_the_other_node(checks: dict) -> None:
    assert outcome(checks, "retry on the other node") == "other node"
