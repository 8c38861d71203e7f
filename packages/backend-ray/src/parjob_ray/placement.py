"""Where a retry runs on Ray: on another node than the one its task failed on.

parjob names workers by process (``parjob.workerid``: ``"host:pid:thread"``); Ray starts a
worker process for tasks as it likes, but places them by node, so a node is what a retry
can avoid. Each batch's task says which node it ran on along with its result, so the
backend knows the node of each worker process that ran a batch. A retry then goes to
another live node, as a preference (``NodeAffinitySchedulingStrategy(soft=True)``: Ray
runs it elsewhere, even on the same node, when that one cannot take it). On a single
node there is nothing to avoid: Ray gives each task a process, not a choice of them.
"""

from __future__ import annotations

import itertools
from typing import Any

from parjob.workerid import process_of

#: this worker process's node id (it never changes)
_node: str | None = None
#: known worker processes past which the map is started again (Ray replaces its workers)
_MOST_PROCESSES = 100_000


def node_id() -> str:
    """The id of the Ray node this process runs on (in a Ray task)."""
    global _node
    if _node is None:
        import ray

        _node = str(ray.get_runtime_context().get_node_id())
    return _node


def live_nodes() -> list[str]:
    """Ids of the nodes now alive that offer CPUs."""
    import ray

    return [
        str(node["NodeID"])
        for node in ray.nodes()
        if node.get("Alive") and (node.get("Resources") or {}).get("CPU", 0) > 0
    ]


class Nodes:
    """The node of each worker process that ran a batch, and where a retry goes."""

    def __init__(self) -> None:
        self.of: dict[str, str] = {}
        self._turn = itertools.count()

    def learn(self, worker: str, node: str) -> None:
        """``worker`` (a worker id, as ``BatchResult.worker``) ran on ``node``."""
        if len(self.of) >= _MOST_PROCESSES:
            self.of.clear()
        self.of[process_of(worker)] = node

    def elsewhere(self, avoid: frozenset[str]) -> str | None:
        """A live node none of the workers ``avoid`` ran on, or None (they are unknown, or
        on every node)."""
        failed = {self.of.get(process_of(worker)) for worker in avoid} - {None}
        if not failed:
            return None
        others = [node for node in live_nodes() if node not in failed]
        if not others:
            return None
        return others[next(self._turn) % len(others)]


def preferring(node: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """Ray task ``options`` preferring ``node`` (when given)."""
    if node is None:
        return options
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {**options, "scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=True)}
