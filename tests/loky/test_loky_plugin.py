"""parjob-loky is found through the entry-point group and makes loky the default backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import parjob
from parjob import Parallel, parallel_config, plugins
from parjob_loky import LokyBackend, MultiprocessingBackend


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    plugins._reset_for_tests()
    yield monkeypatch
    monkeypatch.undo()
    plugins._reset_for_tests()


def test_both_backends_are_registered() -> None:
    assert {"loky", "multiprocessing"} <= set(parjob.list_backends())
    entries = plugins.entries()
    assert entries["loky"].source == "parjob-loky"
    assert entries["loky"].factory is LokyBackend
    assert entries["multiprocessing"].factory is MultiprocessingBackend


def test_loky_is_the_default_backend() -> None:
    assert plugins.default_backend_name() == "loky"
    assert Parallel(n_jobs=2).backend.name == "loky"
    assert Parallel(n_jobs=2, prefer="processes").backend.name == "loky"


def test_threads_are_still_chosen_when_asked_for() -> None:
    assert Parallel(n_jobs=2, prefer="threads").backend.name == "threading"
    assert Parallel(n_jobs=2, require="sharedmem").backend.name == "threading"
    with parallel_config("loky"):
        assert Parallel(require="sharedmem").backend.name == "threading"


def test_without_the_plugin_the_default_falls_back_to_threading(
    fresh_registry: pytest.MonkeyPatch,
) -> None:
    fresh_registry.setenv("PARJOB_LOAD_PLUGINS", "")
    assert "loky" not in parjob.list_backends()
    assert plugins.default_backend_name() == "threading"


def test_only_this_plugin(fresh_registry: pytest.MonkeyPatch) -> None:
    fresh_registry.setenv("PARJOB_LOAD_PLUGINS", "parjob-loky")
    assert set(parjob.list_backends()) == {"loky", "multiprocessing", "sequential", "threading"}
    assert plugins.default_backend_name() == "loky"


def test_capabilities() -> None:
    for factory in (LokyBackend, MultiprocessingBackend):
        assert plugins.describe(plugins.entries()[factory.name]) == {
            "threads": False,
            "serializes": True,
            "local": True,
            "interrupt": True,
        }
        assert 0 < factory.target_batch_seconds <= 0.1
    assert LokyBackend.default_priority > MultiprocessingBackend.default_priority > 10


def test_nested_choice_is_threads_sharing_the_cpus() -> None:
    backend = LokyBackend()
    cpus = parjob.cpu_count()
    assert backend.nested(1) == ("threading", cpus)
    assert backend.nested(2) == ("threading", max(cpus // 2, 1))
    assert backend.nested(cpus * 4) == ("threading", 1)
    assert backend.cpu_share(2) == max(cpus // 2, 1)


def test_backend_parameters() -> None:
    with parallel_config("loky", idle_worker_timeout=30):
        assert Parallel().backend.idle_worker_timeout == 30
    with pytest.raises(ValueError, match="idle_worker_timeout"):
        LokyBackend(idle_worker_timeout=0)
    with pytest.raises(TypeError, match="loky"):
        Parallel(backend="loky", no_such_option=1)
    assert MultiprocessingBackend(context="spawn").context.get_start_method() == "spawn"
