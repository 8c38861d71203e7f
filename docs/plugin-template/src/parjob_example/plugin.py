"""The ``parjob`` entry point: registers the ``example`` backend for contract version 1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import parjob
from parjob_example.backend import ExampleBackend


@parjob.hookimpl
def register_backends(register: Callable[..., Any]) -> None:
    register("example", ExampleBackend, contract=parjob.CONTRACT_VERSION)
