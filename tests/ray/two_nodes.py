"""Checks on a two-node Ray cluster simulated on this machine (run in its own process).

Ray allows one connection per process, and the test session already holds one; so
test_ray_two_nodes.py runs this script with ``python`` and reads one JSON line per check:
``{"check": name, "ok": bool, "detail": str}``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable

import numpy as np
import ray
from ray.cluster_utils import Cluster
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

import parjob_ray
from parjob import Parallel, delayed, effective_n_jobs, parallel_config
from parjob.testing import CustomError, fail_on


def node_reading(array: np.ndarray, i: int) -> tuple[str, float, bool]:
    time.sleep(0.05)
    return ray.get_runtime_context().get_node_id(), float(array[i]), bool(array.flags.writeable)


def raise_custom_here(code: int) -> str:
    if code == 3:
        raise CustomError(code)
    return ray.get_runtime_context().get_node_id()


def spin(seconds: float) -> float:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return seconds


def fail_first_on_node(path: str) -> str:
    """Fails on its first run (writing its node to ``path``); then returns its node."""
    node = ray.get_runtime_context().get_node_id()
    if not os.path.exists(path):
        with open(path, "w") as handle:
            handle.write(node)
        raise ValueError("the first run fails")
    return node


def report(name: str, check: Callable[[], str]) -> None:
    try:
        detail, ok = check(), True
    except Exception:
        detail, ok = traceback.format_exc(), False
    print(json.dumps({"check": name, "ok": ok, "detail": detail}), flush=True)


def main() -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        with parallel_config("ray", address=cluster.address):
            report("n_jobs counts one node", lambda: str(effective_n_jobs(-1)))
            cluster.add_node(num_cpus=2)
            cluster.wait_for_nodes()
            report("n_jobs counts both nodes", lambda: str(effective_n_jobs(-1)))
        alive = [node for node in ray.nodes() if node["Alive"]]
        head = next(node["NodeID"] for node in alive if _is_head(node))
        other = next(node["NodeID"] for node in alive if not _is_head(node))
        pinned = NodeAffinitySchedulingStrategy(node_id=other, soft=False)
        array = np.arange(500_000, dtype=np.float64)

        def large_array_on_both_nodes() -> str:
            # one call pinned to each node (Ray's SPREAD is a preference, and its
            # locality-aware scheduling favours the node holding the array)
            nodes = set()
            for node in (head, other):
                strategy = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
                with parallel_config("ray", ray_remote_args={"scheduling_strategy": strategy}):
                    out = Parallel(batch_size=1)(delayed(node_reading)(array, i) for i in range(6))
                assert [value for _, value, _ in out] == [float(i) for i in range(6)]
                assert not any(writeable for _, _, writeable in out), "copies, not stored"
                nodes |= {ran_on for ran_on, _, _ in out}
            assert nodes == {head, other}, f"tasks ran on {nodes}"
            return "2 nodes"

        def error_from_the_other_node() -> str:
            with parallel_config("ray", ray_remote_args={"scheduling_strategy": pinned}):
                try:
                    Parallel(batch_size=1)(delayed(raise_custom_here)(i) for i in range(6))
                except CustomError as exc:
                    assert exc.code == 3
                    assert "raise_custom_here" in str(exc.__cause__)
                    return "CustomError"
            raise AssertionError("no error raised")

        def timeout_cancels_on_the_other_node() -> str:
            with parallel_config("ray", ray_remote_args={"scheduling_strategy": pinned}):
                try:
                    Parallel(timeout=1)(delayed(spin)(60) for _ in range(2))
                except TimeoutError:
                    pass
                else:
                    raise AssertionError("no timeout")
            end = time.monotonic() + 30
            while ray.available_resources().get("CPU", 0) < 3:
                assert time.monotonic() < end, "tasks on the other node still hold CPUs"
                time.sleep(0.1)
            with parallel_config("ray"):
                assert Parallel()(delayed(fail_on)(i, -1) for i in range(4)) == [0, 1, 2, 3]
            return "cancelled"

        def retry_on_the_other_node() -> str:
            folder = tempfile.mkdtemp()
            with parallel_config("ray"):
                assert Parallel().backend.can_avoid_workers
                for k in range(3):  # Ray alone may put it on either node
                    path = os.path.join(folder, f"first-{k}")
                    (second,) = Parallel(retries=1)([delayed(fail_first_on_node)(path)])
                    with open(path) as handle:
                        first = handle.read()
                    assert second != first, f"run {k}: both runs on node {first}"
            return "other node"

        report("retry on the other node", retry_on_the_other_node)
        report("large array reaches both nodes", large_array_on_both_nodes)
        report("error from the other node", error_from_the_other_node)
        report("timeout cancels on the other node", timeout_cancels_on_the_other_node)

        def close_leaves_a_ray_parjob_did_not_start() -> str:
            parjob_ray.close()
            assert ray.is_initialized(), "parjob shut down a Ray it did not start"
            return "still connected"

        report("close leaves the user's Ray", close_leaves_a_ray_parjob_did_not_start)

        def ray_address_from_the_environment() -> str:
            ray.shutdown()  # this process only: the cluster goes on
            os.environ["RAY_ADDRESS"] = cluster.address
            with parallel_config("ray"):
                assert Parallel()(delayed(fail_on)(i, -1) for i in range(3)) == [0, 1, 2]
                assert effective_n_jobs(-1) == 3
            connected = ray.get_runtime_context().gcs_address
            assert connected == cluster.address, f"{connected} is not {cluster.address}"
            return "connected"

        report("RAY_ADDRESS is used", ray_address_from_the_environment)
    finally:
        ray.shutdown()
        cluster.shutdown()


def _is_head(node: dict[str, object]) -> bool:
    resources = node.get("Resources") or {}
    return "node:__internal_head__" in resources  # type: ignore[operator]


if __name__ == "__main__":
    main()
    sys.exit(0)
