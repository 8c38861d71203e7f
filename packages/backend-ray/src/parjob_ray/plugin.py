"""Registers the ``ray`` backend with parjob (entry point ``ray`` in group ``parjob``).

Registering is cheap: Ray is imported when a ray backend is created, not with this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from parjob import CONTRACT_VERSION, hookimpl
from parjob_ray.backend import RayBackend


@hookimpl
def register_backends(register: Callable[..., Any]) -> None:
    register("ray", RayBackend, contract=CONTRACT_VERSION)
