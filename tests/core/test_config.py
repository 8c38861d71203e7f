"""parallel_config / parallel_backend: precedence, nesting, isolation, n_jobs defaults."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future

import pytest

from parjob import (
    Backend,
    Parallel,
    cpu_count,
    delayed,
    effective_n_jobs,
    parallel_backend,
    parallel_config,
    plugins,
    register_parallel_backend,
)
from parjob.testing import square


class FakeProcesses(Backend):
    """Looks like a process backend, runs batches inline: enough to test backend choice."""

    name = "fake-processes"
    uses_threads = False
    default_priority = 0

    def __init__(self, **params: object) -> None:
        self.params = params

    def submit(self, work):  # type: ignore[no-untyped-def]
        future: Future = Future()
        try:
            future.set_result(work())
        except BaseException as exc:
            future.set_exception(exc)
        return future


@pytest.fixture(autouse=True)
def fake_backend() -> Iterator[None]:
    register_parallel_backend("fake-processes", FakeProcesses)
    yield
    plugins._load().runtime_backends.pop("fake-processes")


def test_none_means_one_worker_without_context() -> None:
    assert Parallel().n_jobs == 1
    assert effective_n_jobs(None) == 1


def test_context_backend_without_n_jobs_uses_all_workers() -> None:
    with parallel_config("threading"):
        parallel = Parallel()
        assert parallel.backend.name == "threading"
        assert parallel._effective_n_jobs() == cpu_count()
        assert effective_n_jobs() == cpu_count()


def test_context_n_jobs_applies_and_explicit_wins() -> None:
    with parallel_config("threading", n_jobs=3):
        assert Parallel()._effective_n_jobs() == 3
        assert Parallel(n_jobs=2)._effective_n_jobs() == 2


def test_n_jobs_only_context_keeps_default_backend() -> None:
    with parallel_config(n_jobs=2):
        assert Parallel().n_jobs == 2


def test_parallel_backend_defaults_to_all_workers() -> None:
    with parallel_backend("threading"):
        assert Parallel()._effective_n_jobs() == cpu_count()
    with parallel_backend("threading", n_jobs=2):
        assert Parallel()._effective_n_jobs() == 2


def test_nesting_restores_outer() -> None:
    with parallel_config("threading", n_jobs=2):
        with parallel_config("sequential"):
            assert Parallel().backend.name == "sequential"
        assert Parallel().backend.name == "threading"
        assert Parallel().n_jobs == 2
    assert Parallel(n_jobs=2, prefer="threads").backend.name == "threading"


def test_inner_block_without_backend_inherits_it() -> None:
    with parallel_config("fake-processes", color="blue"), parallel_config(verbose=0, size=3):
        backend = Parallel().backend
        assert backend.name == "fake-processes"
        assert backend.params == {"color": "blue", "size": 3}


def test_backend_params_stay_with_their_backend() -> None:
    with parallel_config("fake-processes", color="blue"), parallel_config("threading"):
        assert Parallel().backend.name == "threading"


def test_backend_instance() -> None:
    instance = FakeProcesses(tag=1)
    with parallel_config(instance):
        assert Parallel().backend is instance
        assert Parallel()(delayed(square)(i) for i in range(4)) == [0, 1, 4, 9]


def test_instance_with_params_is_refused() -> None:
    with pytest.raises(TypeError, match="backend instance"):
        Parallel(backend=FakeProcesses(), color="red")


def test_require_sharedmem_overrides_context_process_backend() -> None:
    with parallel_config("fake-processes", n_jobs=2):
        parallel = Parallel(require="sharedmem")
        assert parallel.backend.name == "threading"
        assert parallel.n_jobs == 2


def test_require_sharedmem_with_explicit_process_backend_is_an_error() -> None:
    with pytest.raises(ValueError, match="sharedmem"):
        Parallel(backend="fake-processes", require="sharedmem")


def test_prefer_is_only_a_hint() -> None:
    with parallel_config("fake-processes"):
        assert Parallel(prefer="threads").backend.name == "fake-processes"


def test_verbose_from_context() -> None:
    with parallel_config(verbose=5):
        assert Parallel().verbose == 5
        assert Parallel(verbose=0).verbose == 0


def test_config_is_private_to_each_thread() -> None:
    seen: list[str] = []
    entered = threading.Event()
    release = threading.Event()

    def other() -> None:
        entered.wait()
        seen.append(Parallel(n_jobs=2, prefer="threads").backend.name)
        release.set()

    thread = threading.Thread(target=other)
    thread.start()
    with parallel_config("sequential"):
        entered.set()
        release.wait(10)
    thread.join()
    assert seen == ["threading"]


def test_config_is_private_to_each_asyncio_task() -> None:
    async def pick(backend: str) -> str:
        with parallel_config(backend):
            await asyncio.sleep(0.01)
            return Parallel().backend.name

    async def main() -> list[str]:
        return await asyncio.gather(pick("threading"), pick("sequential"))

    assert asyncio.run(main()) == ["threading", "sequential"]


def test_unknown_backend_in_config_fails_on_enter() -> None:
    with pytest.raises(ValueError, match="Invalid backend: 'nope'"), parallel_config("nope"):
        pass


def test_bad_config_values_are_named() -> None:
    with pytest.raises(ValueError, match="'fast'"):
        parallel_config(prefer="fast")
    with pytest.raises(ValueError, match="n_jobs == 0"):
        parallel_config(n_jobs=0)
    with pytest.raises(ValueError, match="'w'"):
        parallel_config(mmap_mode="w")
    with pytest.raises(ValueError, match="inner_max_num_threads"):
        parallel_config(inner_max_num_threads=0)


def test_none_disables_memmapping_from_a_config_block() -> None:
    with parallel_config(max_nbytes=None, mmap_mode=None):
        settings = Parallel().settings
        assert (settings.max_nbytes, settings.mmap_mode) == (None, None)
    with parallel_config(verbose=1):
        settings = Parallel().settings
        assert (settings.max_nbytes, settings.mmap_mode) == (1024**2, "r")
