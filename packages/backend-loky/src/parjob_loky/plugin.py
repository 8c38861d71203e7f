"""The ``parjob`` entry point of parjob-loky: registers ``loky`` and ``multiprocessing``.

``loky`` ranks highest among installed backends, so it becomes the default backend as
soon as this plugin is installed; loky itself is imported at the first call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from parjob import CONTRACT_VERSION, hookimpl
from parjob_loky.loky_backend import LokyBackend
from parjob_loky.mp_backend import MultiprocessingBackend


@hookimpl
def register_backends(register: Callable[..., Any]) -> None:
    register("loky", LokyBackend, contract=CONTRACT_VERSION)
    register("multiprocessing", MultiprocessingBackend, contract=CONTRACT_VERSION)
