"""Per-task resource requests (CPUs, GPUs, custom resources) as a Spark ResourceProfile.

Stage-level scheduling: each partition (one batch) of the call's jobs asks for these
resources. Spark supports it on YARN, Kubernetes and standalone clusters (and Spark
Connect 4.0+ through ``mapInArrow(profile=...)``); local mode has no cluster manager to
ask, so a request there is refused with a clear error before any work is sent.
"""

from __future__ import annotations

import numbers
from typing import Any


def check(resources: dict[str, Any]) -> dict[str, float]:
    """``resources`` validated: names to positive amounts (``cpus`` a whole number)."""
    if not isinstance(resources, dict):
        raise TypeError(
            f"resources must be a dict like {{'cpus': 2, 'gpus': 1}}, got {resources!r}"
        )
    checked: dict[str, float] = {}
    for name, amount in resources.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"resource names must be non-empty str, got {name!r}")
        is_number = isinstance(amount, numbers.Real) and not isinstance(amount, bool)
        if not is_number or amount <= 0:
            raise ValueError(f"resource {name!r} needs a positive amount, got {amount!r}")
        if name == "cpus" and int(amount) != amount:
            raise ValueError(f"resource 'cpus' must be a whole number, got {amount!r}")
        checked[name] = float(amount)
    return checked


def resource_profile(resources: dict[str, Any], session: Any = None) -> Any:
    """The ResourceProfile for ``resources`` on ``session`` (only checked without one)."""
    checked = check(resources)
    if session is None:
        return None
    from parjob_spark.session import is_connect

    if not is_connect(session):
        master = session.sparkContext.master
        if master.startswith("local") and not master.startswith("local-cluster"):
            raise ValueError(
                f"resources={resources!r} needs stage-level scheduling, which Spark offers on "
                f"standalone, YARN and Kubernetes clusters, not in master={master!r}"
            )
    try:
        from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests
    except ImportError as exc:  # pragma: no cover - pyspark without stage-level scheduling
        raise ValueError(f"resources= needs a PySpark with stage-level scheduling: {exc}") from None
    requests = TaskResourceRequests()
    for name, amount in checked.items():
        if name == "cpus":
            requests = requests.cpus(int(amount))
        else:
            requests = requests.resource("gpu" if name == "gpus" else name, amount)
    return ResourceProfileBuilder().require(requests).build
