"""Plugins hear of each ``parallel_config`` block (the ``parallel_config_entered`` hook)
and are told when it ends: innermost first, per entry, per thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from parjob import config, parallel_backend, parallel_config, plugins


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """A plugin hook that records entries and exits (installed over the loaded ones)."""
    seen: list[tuple[str, Any]] = []

    def listener(settings: Any, block: Any) -> Callable[[], None]:
        assert config.current() is settings  # told once the block is in force
        seen.append(("enter", dict(block)))
        return lambda: seen.append(("exit", dict(block)))

    monkeypatch.setattr(plugins._load(), "block_listeners", (listener,))
    yield seen


def test_the_installed_plugins_listen() -> None:
    modules = {listener.__module__ for listener in plugins.block_listeners()}
    assert {"parjob_dask.plugin", "parjob_joblib.plugin"} <= modules


def test_blocks_are_announced_and_left_innermost_first(events: list[Any]) -> None:
    with parallel_config("threading", n_jobs=2), parallel_backend("sequential"):
        pass
    assert [kind for kind, _ in events] == ["enter", "enter", "exit", "exit"]
    assert events[1][1]["backend"] == "sequential" == events[2][1]["backend"]


def test_one_config_object_entered_twice_is_left_twice(events: list[Any]) -> None:
    block = parallel_config(n_jobs=3)
    with block, block:
        assert config.current()["n_jobs"] == 3
    assert [kind for kind, _ in events] == ["enter", "enter", "exit", "exit"]
    assert config.current().get("n_jobs") is None


def test_each_thread_hears_of_its_own_blocks(events: list[Any]) -> None:
    inside = threading.Barrier(2)

    def run(n: int) -> None:
        with parallel_config(n_jobs=n):
            inside.wait(timeout=10)

    threads = [threading.Thread(target=run, args=(n,)) for n in (2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(kind for kind, _ in events) == ["enter", "enter", "exit", "exit"]


def test_a_failing_listener_leaves_the_block_unentered(monkeypatch: pytest.MonkeyPatch) -> None:
    told: list[str] = []

    def first(settings: Any, block: Any) -> Callable[[], None]:
        return lambda: told.append("first left")

    def broken(settings: Any, block: Any) -> None:
        raise RuntimeError("plugin bug")

    monkeypatch.setattr(plugins._load(), "block_listeners", (first, broken))
    with pytest.raises(RuntimeError, match="plugin bug"), parallel_config(n_jobs=2):
        pass
    assert told == ["first left"]
    assert config.current().get("n_jobs") is None


def test_every_exit_runs_even_if_one_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    told: list[str] = []

    def failing_exit(settings: Any, block: Any) -> Callable[[], None]:
        def leave() -> None:
            raise ValueError("exit bug")

        return leave

    def good(settings: Any, block: Any) -> Callable[[], None]:
        return lambda: told.append("left")

    monkeypatch.setattr(plugins._load(), "block_listeners", (good, failing_exit))
    with pytest.raises(ValueError, match="exit bug"), parallel_config(n_jobs=2):
        pass
    assert told == ["left"]
    assert config.current().get("n_jobs") is None
