"""docs/plugin-template passes the conformance suite, registered as its entry point would.

Installing it from its own wheel and running its own tests there is in test_wheels.py.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
from doc_blocks import DOCS

from parjob import Parallel, delayed, parallel_config, plugins
from parjob.testing import BackendConformance

TEMPLATE = DOCS / "plugin-template"


@pytest.fixture(scope="module")
def example_plugin() -> Iterator[ModuleType]:
    sys.path.insert(0, str(TEMPLATE / "src"))
    try:
        module = importlib.import_module("parjob_example.plugin")
        registry = plugins._load()
        registry.manager.register(module, name="parjob-example")
        module.register_backends(register=plugins._plugin_register(registry, "parjob-example", "0"))
        yield module
        registry.plugin_backends.pop("example", None)
        registry.manager.unregister(module)
    finally:
        sys.path.remove(str(TEMPLATE / "src"))
        for name in [name for name in sys.modules if name.startswith("parjob_example")]:
            del sys.modules[name]


def test_entry_point_names_the_plugin_module() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["parjob"] == {"example": "parjob_example.plugin"}
    assert (TEMPLATE / "src" / "parjob_example" / "py.typed").exists()


def test_parameter_reaches_the_backend(example_plugin: ModuleType) -> None:
    with parallel_config("example", thread_name_prefix="mine"):
        parallel = Parallel(n_jobs=2)
        assert parallel.backend.thread_name_prefix == "mine"
        assert parallel(delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]


@pytest.mark.usefixtures("example_plugin")
class TestPluginTemplate(BackendConformance):
    backend = "example"
