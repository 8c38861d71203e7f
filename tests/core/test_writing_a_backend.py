"""The third-party backend in docs/writing-a-backend.md works as printed."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from parjob import Parallel, delayed, parallel_config, plugins
from parjob.testing import BackendConformance, square

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-backend.md"


def _example_source() -> str:
    return re.search(r"```python\n(# my_parjob_pool.py\n.*?)```", DOC.read_text(), re.S).group(1)


def test_example_is_under_40_lines() -> None:
    assert len(_example_source().strip().splitlines()) < 40


@pytest.fixture(scope="module")
def pool_plugin() -> types.ModuleType:
    module = types.ModuleType("my_parjob_pool")
    sys.modules["my_parjob_pool"] = module
    exec(compile(_example_source(), str(DOC), "exec"), module.__dict__)
    registry = plugins._load()
    registry.manager.register(module, name="my-parjob-pool")
    module.register_backends(register=plugins._plugin_register(registry, "my-parjob-pool", "1.0"))
    yield module
    registry.plugin_backends.pop("pool", None)
    registry.manager.unregister(module)
    sys.modules.pop("my_parjob_pool", None)


def test_registered_through_the_hook(pool_plugin: types.ModuleType) -> None:
    assert "pool" in plugins.list_backends()
    assert plugins.entries()["pool"].source == "my-parjob-pool"


def test_backend_parameter_reaches_the_backend(pool_plugin: types.ModuleType) -> None:
    with parallel_config("pool", max_tasks_per_child=2):
        parallel = Parallel()
        assert parallel.backend.max_tasks_per_child == 2
        assert parallel(delayed(square)(i) for i in range(8)) == [i * i for i in range(8)]


@pytest.mark.usefixtures("pool_plugin")
class TestDocumentedPoolBackend(BackendConformance):
    backend = "pool"
