"""What ``ray_remote_args`` may set on every batch's Ray task, checked before any work."""

from __future__ import annotations

from typing import Any

#: what ``ray_remote_args`` may set on every batch's task
REMOTE_ARGS = frozenset(
    {
        "num_cpus",
        "num_gpus",
        "resources",
        "memory",
        "max_retries",
        "retry_exceptions",
        "runtime_env",
        "scheduling_strategy",
        "accelerator_type",
        "label_selector",
    }
)


def checked(args: dict[str, Any] | None) -> dict[str, Any]:
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise TypeError(f"ray_remote_args must be a dict of Ray task options, got {args!r}")
    unknown = sorted(set(args) - REMOTE_ARGS)
    if unknown:
        raise ValueError(
            f"ray_remote_args does not take {', '.join(map(repr, unknown))}; accepted: "
            f"{', '.join(sorted(REMOTE_ARGS))}"
        )
    for key in ("num_cpus", "num_gpus", "memory"):
        value = args.get(key)
        if value is not None and (isinstance(value, bool) or not _is_number(value) or value < 0):
            raise ValueError(f"ray_remote_args[{key!r}] must be a number >= 0, got {value!r}")
    resources = args.get("resources")
    if resources is not None and not (
        isinstance(resources, dict) and all(_is_number(v) and v >= 0 for v in resources.values())
    ):
        raise ValueError(
            f"ray_remote_args['resources'] must map resource names to amounts, got {resources!r}"
        )
    asked = demand(args)
    if not any(amount > 0 for amount in asked.values()):
        raise ValueError(
            f"ray_remote_args {args!r} asks for no CPU, GPU or other resource: n_jobs=-1 "
            "could not size from it; ask for some (e.g. num_cpus=0.5)"
        )
    return dict(args)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def demand(args: dict[str, Any]) -> dict[str, float]:
    """Resources one batch's task asks for (a Ray task takes one CPU unless told)."""
    num_cpus = args.get("num_cpus")
    demand = {"CPU": 1.0 if num_cpus is None else float(num_cpus)}
    if args.get("num_gpus"):
        demand["GPU"] = float(args["num_gpus"])
    for name, amount in (args.get("resources") or {}).items():
        demand[name] = float(amount)
    return demand
