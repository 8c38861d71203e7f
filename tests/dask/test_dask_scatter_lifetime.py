"""How long explicitly scattered data lives: one ``parallel_config`` block (or one
``Parallel``), then released from the cluster; and a scattered object is only ever
swapped for its own worker-side copy (issue 16, items 1-3)."""

from __future__ import annotations

import gc
from typing import Any

import dask_tasks as t
import pytest
from dask_helpers import wait_until_released
from distributed import Client, LocalCluster

from parjob import Parallel, delayed, parallel_config

np = pytest.importorskip("numpy")


def replace_reusing_the_id(data: list[Any], keep: list[Any]) -> dict[str, int]:
    """Put a new ``{"v": 2}`` in ``data[0]``, at the address of the object it replaces if
    that was freed (CPython's allocator reuses it at once). parjob keeps scattered objects
    alive, so there it cannot be, and the new object is elsewhere."""
    old = id(data[0])
    data[0] = None
    for _ in range(100):
        new = {"v": 2}
        if id(new) == old:
            break
        keep.append(new)
    data[0] = new
    return new


def test_an_item_replaced_within_a_block_is_never_sent_as_the_old_one() -> None:
    data: list[Any] = [{"v": 1}]
    keep: list[Any] = []
    with parallel_config("dask", scatter=data):
        assert Parallel()([delayed(t.value_of)(data[0])]) == [1]
        new = replace_reusing_the_id(data, keep)
        assert Parallel()([delayed(t.value_of)(new)]) == [2]


def test_an_item_replaced_within_one_parallel_is_never_sent_as_the_old_one() -> None:
    data: list[Any] = [{"v": 1}]
    keep: list[Any] = []
    with Parallel(backend="dask", scatter=data) as parallel:
        assert parallel([delayed(t.value_of)(data[0])]) == [1]
        new = replace_reusing_the_id(data, keep)
        assert parallel([delayed(t.value_of)(new)]) == [2]


def test_the_same_list_in_a_new_block_is_scattered_again() -> None:
    X = np.ones(1000)
    data = [X]
    with parallel_config("dask", scatter=data):
        assert Parallel()([delayed(t.total)(X)]) == [1000.0]
    X[:] = 2  # changed in place between the blocks: the next block must see it
    with parallel_config("dask", scatter=data):
        assert Parallel()([delayed(t.total)(X)]) == [2000.0]


def test_within_a_block_data_is_sent_once_as_joblib_does() -> None:
    # documented in docs/behaviour.md: in-place changes within a block are not seen
    X = np.ones(1000)
    with parallel_config("dask", scatter=[X]):
        assert Parallel()([delayed(t.total)(X)]) == [1000.0]
        X[:] = 2
        assert Parallel()([delayed(t.total)(X)]) == [1000.0]


def test_a_nested_block_that_changes_no_backend_keeps_the_scattered_data(
    client: Client,
) -> None:
    payload = {"rows": list(range(100))}
    with parallel_config("dask", scatter=[payload]):
        first = Parallel(batch_size=1)(delayed(t.held_id)(payload) for _ in range(4))
        with parallel_config(verbose=0):
            second = Parallel(batch_size=1)(delayed(t.held_id)(payload) for _ in range(4))
    assert len({ident for _, ident in first + second}) <= 2  # one copy per worker


@pytest.mark.parametrize("direct", [None, True])
def test_nothing_stays_on_the_cluster_after_a_block(
    dask_cluster: LocalCluster, direct: bool | None
) -> None:
    # a client that fetches results straight from the workers opens connections from the
    # relay of the first results: those must not keep the block (and its list) alive
    with Client(dask_cluster, set_as_default=False, direct_to_workers=direct) as fresh:
        payload = {"rows": list(range(100))}
        with parallel_config("dask", client=fresh, scatter=[payload]):
            out = Parallel(batch_size=1)(delayed(t.first_item)(payload["rows"]) for _ in range(4))
            assert out == [0] * 4
        del payload
        gc.collect()
        assert wait_until_released(fresh) == []


def test_nothing_stays_on_the_cluster_after_a_parallel_with_scatter(
    dask_cluster: LocalCluster,
) -> None:
    with Client(dask_cluster, set_as_default=False, direct_to_workers=True) as fresh:
        payload = {"rows": list(range(100))}
        parallel = Parallel(backend="dask", client=fresh, scatter=[payload], batch_size=1)
        assert parallel(delayed(t.first_item)(payload["rows"]) for _ in range(4)) == [0] * 4
        del parallel, payload
        gc.collect()
        assert wait_until_released(fresh) == []


def released_without_gc(client: Client, deadline: float = 10.0) -> list[str]:
    """Poll the scheduler's keys (no garbage collection): what is left after ``deadline``."""
    import time

    from dask_helpers import scheduler_keys

    end = time.monotonic() + deadline
    while (keys := scheduler_keys(client)) and time.monotonic() < end:
        time.sleep(0.02)
    return keys


def test_a_blocks_data_goes_when_the_block_ends_not_at_garbage_collection(
    client: Client,
) -> None:
    payload = {"rows": list(range(100))}
    gc.disable()
    try:
        with parallel_config("dask", scatter=[payload]):
            assert Parallel()(delayed(t.first_item)(payload["rows"]) for _ in range(2)) == [0, 0]
            assert len(scheduler_data_keys(client)) == 1
        assert released_without_gc(client) == []
    finally:
        gc.enable()


def test_a_parallel_made_in_a_block_and_used_after_it_scatters_for_itself(
    client: Client,
) -> None:
    payload = {"rows": list(range(100))}
    with parallel_config("dask", scatter=[payload]):
        parallel = Parallel(batch_size=1)
        assert parallel(delayed(t.first_item)(payload["rows"]) for _ in range(2)) == [0, 0]
    assert parallel(delayed(t.first_item)(payload["rows"]) for _ in range(2)) == [0, 0]
    del parallel


def scheduler_data_keys(client: Client) -> list[str]:
    from dask_helpers import scheduler_keys

    return [key for key in scheduler_keys(client) if not key.startswith("parjob-")]
