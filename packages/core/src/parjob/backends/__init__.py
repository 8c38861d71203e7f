"""The backends that ship with the core, registered through the same hook as plugins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from parjob.backend import CONTRACT_VERSION
from parjob.backends.sequential import SequentialBackend
from parjob.backends.threads import ThreadingBackend
from parjob.hookspecs import hookimpl


@hookimpl
def register_backends(register: Callable[..., Any]) -> None:
    register("sequential", SequentialBackend, contract=CONTRACT_VERSION)
    register("threading", ThreadingBackend, contract=CONTRACT_VERSION)
