"""Scattered data: explicit ``scatter=[...]`` once per context, and automatic scatter of
large numpy arguments once per call; tasks get the worker-side object, not a copy each.
On a cluster on this machine large arrays are memory-mapped instead (``mmap_mode=None``
turns that off, which is how the scatter path is tested here)."""

from __future__ import annotations

import gc
from collections import defaultdict

import dask_tasks as t
import pytest
from dask_helpers import scheduler_keys, wait_until_released
from distributed import Client, LocalCluster

from parjob import Parallel, delayed, parallel_config

np = pytest.importorskip("numpy")


def copies_per_worker(pairs: list[tuple[int, int]]) -> dict[int, int]:
    """How many distinct objects each worker process handed to its tasks."""
    seen: dict[int, set[int]] = defaultdict(set)
    for pid, ident in pairs:
        seen[pid].add(ident)
    return {pid: len(ids) for pid, ids in seen.items()}


def data_keys(client: Client) -> list[str]:
    return [key for key in scheduler_keys(client) if not key.startswith("parjob-")]


def test_explicit_scatter_once_per_context(client: Client) -> None:
    assert wait_until_released(client) == []  # nothing left from earlier tests
    payload = {"rows": list(range(1000))}  # any object, not only arrays
    with parallel_config("dask", scatter=[payload]):
        first = Parallel(batch_size=1)(delayed(t.held_id)(payload) for _ in range(8))
        keys = data_keys(client)
        second = Parallel(batch_size=1)(delayed(t.held_id)(payload) for _ in range(8))
        assert data_keys(client) == keys and len(keys) == 1  # sent once for the context
    # every task on a worker got that worker's one copy, in both calls
    assert set(copies_per_worker(first + second).values()) == {1}
    gc.collect()
    assert wait_until_released(client) == []  # released once the context is gone


def test_scatter_released_even_when_the_block_opened_connections(
    dask_cluster: LocalCluster,
) -> None:
    # a fresh client has no connection to the workers yet: the block's scatter opens them,
    # and dask's loop must not keep the block's context (and so the list) alive
    with Client(dask_cluster, set_as_default=False) as fresh:
        payload = {"rows": list(range(100))}
        with parallel_config("dask", client=fresh, scatter=[payload]):
            assert Parallel()(delayed(t.first_item)(payload["rows"]) for _ in range(2)) == [0, 0]
            assert len(data_keys(fresh)) == 1
        del payload
        assert wait_until_released(fresh) == []


def test_explicit_scatter_with_parallel_argument(client: Client) -> None:
    items = [1, 2, 3]
    out = Parallel(backend="dask", scatter=[items], batch_size=1)(
        delayed(t.held_id)(items) for _ in range(6)
    )
    assert set(copies_per_worker(out).values()) == {1}


def test_a_new_context_scatters_again(client: Client) -> None:
    data = [0]
    with parallel_config("dask", scatter=[data]):
        assert Parallel()([delayed(t.first_item)(data)]) == [0]
    data[0] = 7  # changed between contexts: the next context must see it
    with parallel_config("dask", scatter=[data]):
        assert Parallel()([delayed(t.first_item)(data)]) == [7]


def test_large_array_is_scattered_automatically(client: Client) -> None:
    big = np.ones(2**18)  # 2 MiB, above the 1 MiB default
    out = Parallel(backend="dask", batch_size=1, mmap_mode=None)(
        delayed(t.held_id)(big) for _ in range(8)
    )
    assert set(copies_per_worker(out).values()) == {1}


def test_large_keyword_and_nested_arguments_too(client: Client) -> None:
    big = np.ones(2**18)
    out = Parallel(backend="dask", batch_size=1, mmap_mode=None)(
        delayed(t.held_id)(obj=big) for _ in range(4)
    )
    assert set(copies_per_worker(out).values()) == {1}
    out = Parallel(backend="dask", batch_size=1)(delayed(t.first_item)([big, 1]) for _ in range(4))
    assert [len(x) for x in out] == [2**18] * 4


def test_threshold_is_configurable_and_can_be_off(client: Client) -> None:
    small = np.ones(1000)
    out = Parallel(backend="dask", batch_size=1, scatter_threshold="1k", mmap_mode=None)(
        delayed(t.held_id)(small) for _ in range(6)
    )
    assert set(copies_per_worker(out).values()) == {1}
    big = np.ones(2**18)
    out = Parallel(backend="dask", batch_size=1, scatter_threshold=None)(
        delayed(t.held_id)(big) for _ in range(6)
    )
    assert sum(copies_per_worker(out).values()) == 6  # one copy per batch, as asked


def test_each_call_sees_current_data(client: Client) -> None:
    big = np.zeros(2**18)
    with Parallel(backend="dask", mmap_mode=None) as parallel:
        assert parallel([delayed(t.first_item)(big)]) == [0.0]
        big[0] = 5.0  # changed in place between two calls of one Parallel
        assert parallel([delayed(t.first_item)(big)]) == [5.0]


def test_nested_call_scatters_from_the_worker() -> None:
    out = Parallel(backend="dask", batch_size=1)(
        delayed(t.fan_out_large_array)(3) for _ in range(2)
    )
    assert out == [[2**18] * 3] * 2


def test_pandas_objects_are_scattered(client: Client) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": np.arange(2**18)})
    out = Parallel(backend="dask", batch_size=1)(delayed(t.held_id)(frame) for _ in range(6))
    assert set(copies_per_worker(out).values()) == {1}


def test_same_machine_cluster_gets_memory_maps(client: Client) -> None:
    import os

    big = np.ones(2**18)
    before = data_keys(client)
    out = Parallel(backend="dask", batch_size=1)(delayed(t.array_kind)(big) for _ in range(6))
    assert {kind for kind, _, _ in out} == {"memmap"}
    assert not any(writeable for _, writeable, _ in out)  # mmap_mode="r"
    files = {name for _, _, name in out}
    assert len(files) == 1  # written once for the call, read in place by every task
    assert data_keys(client) == before  # nothing went through the scheduler
    assert not any(os.path.exists(name) for name in files)  # removed after the call


def test_memory_maps_see_each_calls_data(client: Client) -> None:
    big = np.zeros(2**18)
    with Parallel(backend="dask") as parallel:
        assert parallel([delayed(t.first_item)(big)]) == [0.0]
        big[0] = 5.0
        assert parallel([delayed(t.first_item)(big)]) == [5.0]


def test_memory_map_folder_removed_after_an_error(client: Client) -> None:
    import os

    big = np.ones(2**18)
    tasks = [delayed(t.array_kind)(big), delayed(t.fail_on)(1, 1)]
    with pytest.raises(ValueError):
        Parallel(backend="dask", batch_size=1)(tasks)
    folders = [os.path.join("/dev/shm", n) for n in os.listdir("/dev/shm")]
    assert not [f for f in folders if f"parjob_{os.getpid()}_" in f and os.path.isdir(f)]
