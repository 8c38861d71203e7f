"""At ``verbose``, a backend whose start takes seconds says so once, before it starts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from parjob import Parallel, delayed, parallel_config, plugins
from parjob.backends.threads import ThreadingBackend


class SlowStart(ThreadingBackend):
    """Threads, with an "engine" that is started once per process."""

    name = "slow-start"
    started = False
    capacity_calls = 0

    def startup_note(self) -> str | None:
        return None if SlowStart.started else "Starting the engine: a few seconds."

    def capacity(self) -> int:
        SlowStart.started = True  # sizing with n_jobs=-1 starts it, as on a cluster
        return 2

    def start(self, n_jobs: int, settings) -> None:  # type: ignore[no-untyped-def]
        SlowStart.started = True
        super().start(n_jobs, settings)


@pytest.fixture
def slow_start() -> Iterator[None]:
    SlowStart.started = False
    plugins.register_parallel_backend("slow-start", SlowStart)
    yield
    plugins._load().runtime_backends.pop("slow-start", None)


class Collect(Parallel):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.messages: list[str] = []
        super().__init__(*args, **kwargs)

    def _print(self, msg: str) -> None:
        self.messages.append(msg)


TASKS = [delayed(abs)(-i) for i in range(6)]


@pytest.mark.usefixtures("slow_start")
@pytest.mark.parametrize("n_jobs", [2, -1])
def test_said_once_before_the_engine_starts(n_jobs: int) -> None:
    parallel = Collect(n_jobs=n_jobs, backend="slow-start", verbose=1)
    assert parallel(TASKS) == list(range(6))
    assert parallel(TASKS) == list(range(6))
    notes = [m for m in parallel.messages if m.startswith("Starting the engine")]
    assert notes == ["Starting the engine: a few seconds."]
    assert parallel.messages.index(notes[0]) < min(
        i for i, m in enumerate(parallel.messages) if m.startswith("Using backend")
    )
    again = Collect(n_jobs=n_jobs, backend="slow-start", verbose=1)
    again(TASKS)
    assert not [m for m in again.messages if m.startswith("Starting")]


@pytest.mark.usefixtures("slow_start")
def test_said_when_a_with_block_starts_the_engine() -> None:
    with parallel_config("slow-start", n_jobs=2, verbose=1):
        parallel = Collect()
        with parallel:
            assert parallel.messages == ["Starting the engine: a few seconds."]
            parallel(TASKS)


@pytest.mark.usefixtures("slow_start")
def test_silent_without_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    parallel = Collect(n_jobs=2, backend="slow-start")
    parallel(TASKS)
    assert parallel.messages == []
    assert capsys.readouterr().err == ""


@pytest.mark.usefixtures("slow_start")
def test_said_with_a_progress_bar_too() -> None:
    seen: list[tuple[int, int | None]] = []
    parallel = Collect(n_jobs=2, backend="slow-start", progress=lambda d, t: seen.append((d, t)))
    assert parallel(TASKS) == list(range(6))
    assert parallel.messages[0] == "Starting the engine: a few seconds."
    assert seen and seen[-1][0] == 6
