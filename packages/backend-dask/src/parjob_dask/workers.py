"""What the cluster's workers offer a call: threads, a first worker, the resources asked for.

A cluster scaled to zero (``cluster.adapt(minimum=0)``, any autoscaling deployment) starts a
worker only when work is waiting, so parjob waits for a first worker by submitting a tiny
probe task, as joblib does, rather than by watching the worker list.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from parjob.cpu import cpu_count
from parjob_dask.cluster import isolated

if TYPE_CHECKING:
    from distributed import Client


def threads(client: Client) -> int:
    """Threads of all workers now in the cluster."""
    return sum(isolated(client.nthreads).values())


def threads_by_host(client: Client) -> dict[str, int]:
    """Task threads of the worker processes on each host of the cluster."""
    from distributed.comm import get_address_host

    found: dict[str, int] = {}
    for address, count in isolated(client.nthreads).items():
        host = get_address_host(address)
        found[host] = found.get(host, 0) + count
    return found


def cpu_share(threads: Mapping[str, int]) -> int:
    """In a dask worker: its host's CPUs over the task threads of the worker processes on
    that host (``threads``, from :func:`threads_by_host`); the worker's own threads when
    its host is not listed (a worker that joined since)."""
    from distributed import get_worker
    from distributed.comm import get_address_host

    worker = get_worker()
    slots = threads.get(get_address_host(worker.address)) or worker.state.nthreads
    return max(cpu_count() // max(slots, 1), 1)


def probe_task() -> None:
    """The task that makes an autoscaling cluster start a worker."""


def wait_for_a_worker(client: Client, timeout: float | None) -> None:
    """Submit a probe task and wait up to ``timeout`` seconds for it to run somewhere."""
    from distributed import TimeoutError as DaskTimeoutError

    future = isolated(client.submit, probe_task, key=f"parjob-probe-{uuid.uuid4().hex}")
    try:
        isolated(future.result, timeout=timeout)
    except (TimeoutError, DaskTimeoutError):
        raise TimeoutError(
            f"no dask worker joined the cluster at {client.scheduler.address} within "
            f"wait_for_workers_timeout={timeout}s (a probe task was submitted, so an "
            "autoscaling cluster would have started one): start workers, or raise "
            "wait_for_workers_timeout"
        ) from None
    finally:
        isolated(future.release)


def warn_if_unplaceable(client: Client, options: Mapping[str, Any]) -> None:
    """Warn when no worker now in the cluster can run a batch with these dask options
    (``resources`` no worker has, ``workers`` none of which exists): dask would let the
    batches wait, without a word, for such a worker to join."""
    resources = options.get("resources")
    named = options.get("workers")
    if not resources and not (named and not options.get("allow_other_workers")):
        return
    info = isolated(client.scheduler_info)["workers"]
    if not info:
        return  # an autoscaling cluster with no worker yet: it may start a suitable one
    if resources and not any(_has(worker, resources) for worker in info.values()):
        offered = sorted({name for w in info.values() for name in w.get("resources", {})})
        warnings.warn(
            f"no dask worker has the resources {dict(resources)} (the workers offer: "
            f"{offered or 'none'}); the batches wait until such a worker joins",
            RuntimeWarning,
            stacklevel=4,
        )
    if named and not options.get("allow_other_workers"):
        wanted = [named] if isinstance(named, str) else list(named)
        known = {str(key) for w in info.values() for key in (w.get("name"), w.get("host"))}
        if not any(str(name) in known | set(info) for name in wanted):
            warnings.warn(
                f"none of the dask workers {wanted} is in the cluster; the batches wait "
                "until one of them joins (or pass allow_other_workers=True)",
                RuntimeWarning,
                stacklevel=4,
            )


def _has(worker: Mapping[str, Any], resources: Mapping[str, float]) -> bool:
    offered = worker.get("resources", {})
    return all(offered.get(name, 0) >= amount for name, amount in resources.items())
