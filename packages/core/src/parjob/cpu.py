"""``cpu_count``: the CPUs this process may really use.

It honours CPU affinity, cgroup (v1 and v2) CPU quotas as containers set them, and a
``PARJOB_MAX_CPU_COUNT`` cap, and never fails: an unreadable source is skipped. Inside a
task, it is the task's worker's share of the CPUs (``parjob.threadlimits``), so that a
nested call with ``n_jobs=-1`` uses what is left.
"""

from __future__ import annotations

import math
import os
import sys
from functools import lru_cache
from pathlib import Path

from parjob import state


def cpu_count(only_physical_cores: bool = False) -> int:
    """Number of CPUs usable here; with ``only_physical_cores``, hyper-threads count once.
    Inside a task: its worker's share."""
    count = _affinity_count()
    for limit in (_cgroup_limit(), _env_limit()):
        if limit is not None and limit < count:
            count = limit
    if only_physical_cores:
        cores = _physical_cores()
        if cores is not None and cores < count:
            count = cores
    worker = state.worker.get()
    if worker is not None and worker.cpus is not None and worker.cpus < count:
        count = worker.cpus
    return count if count > 1 else 1  # (not max(): it is slow to call, and this is per call)


if hasattr(os, "process_cpu_count"):  # Python 3.13+

    def _affinity_count() -> int:
        return os.process_cpu_count() or 1

elif hasattr(os, "sched_getaffinity"):

    def _affinity_count() -> int:
        return len(os.sched_getaffinity(0)) or 1

else:

    def _affinity_count() -> int:
        return os.cpu_count() or 1


_LIMIT_VAR = "PARJOB_MAX_CPU_COUNT"
#: the name as ``os.environ`` keeps it in its own dict (None where it has none)
_LIMIT_KEY = getattr(os.environ, "encodekey", lambda name: None)(_LIMIT_VAR)


def _env_limit() -> int | None:
    data = getattr(os.environ, "_data", None)
    if _LIMIT_KEY is not None and type(data) is dict and _LIMIT_KEY not in data:
        return None  # not set (the usual case), known without the exceptions of get()
    raw = os.environ.get(_LIMIT_VAR, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


@lru_cache(maxsize=1)
def _cgroup_limit() -> int | None:
    return _cgroup_limit_at(Path("/sys/fs/cgroup"))


def _cgroup_limit_at(root: Path) -> int | None:
    """CPU quota of the cgroup at ``root`` (v2 ``cpu.max`` or v1 cfs files), rounded up."""
    try:
        fields = (root / "cpu.max").read_text().split()
        if len(fields) == 2 and fields[0] != "max":
            return _quota(int(fields[0]), int(fields[1]))
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return _quota(quota, period) if quota > 0 else None
    except (OSError, ValueError):
        return None


def _quota(quota: int, period: int) -> int | None:
    return max(math.ceil(quota / period), 1) if quota > 0 and period > 0 else None


def _physical_cores() -> int | None:
    """Distinct cores among the CPUs we may use, from sysfs topology (Linux)."""
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:
        return None
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            siblings = (topology / "thread_siblings_list").read_text().strip()
        except OSError:
            return None
        cores.add(siblings)
    return len(cores) or None


def gil_enabled() -> bool:
    """False on a free-threaded interpreter running without the GIL (threads then run
    Python code in parallel, and the default backend prefers them)."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())
