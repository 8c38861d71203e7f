"""Large arguments go through Ray's object store once per call and are read zero-copy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import ray_tasks

from parjob import Parallel, delayed, parallel_config


@pytest.fixture
def puts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """What parjob puts into the object store (a spy on the real ``ray.put``)."""
    import ray

    seen: list[Any] = []
    real = ray.put

    def spy(value: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(value)
        return real(value, *args, **kwargs)

    monkeypatch.setattr(ray, "put", spy)
    yield seen
    seen.clear()


def test_large_array_is_put_once_and_read_zero_copy(puts: list[Any]) -> None:
    array = np.arange(1_000_000, dtype=np.float64)  # 8 MB, over the 1 MB default
    out = Parallel(backend="ray", batch_size=1)(
        delayed(ray_tasks.array_view)(array, i) for i in range(10)
    )
    # read-only views of shared memory, not unpickled copies
    assert out == [(False, False, float(i)) for i in range(10)]
    assert len(puts) == 1 and puts[0] is array


def test_arrays_in_small_containers_and_keywords_are_found(puts: list[Any]) -> None:
    array = np.ones(300_000)
    out = Parallel(backend="ray")(
        delayed(ray_tasks.first_item_sum)([array], scale=array) for _ in range(3)
    )
    assert out == [600_000.0] * 3
    assert len(puts) == 1


def test_small_arrays_and_max_nbytes_none_stay_in_the_pickle(puts: list[Any]) -> None:
    small = np.ones(10)
    assert Parallel(backend="ray")(delayed(ray_tasks.array_view)(small, 0) for _ in range(3))
    large = np.ones(1_000_000)
    out = Parallel(backend="ray", max_nbytes=None)(
        delayed(ray_tasks.array_view)(large, 0) for _ in range(3)
    )
    assert [writeable for writeable, _, _ in out] == [True] * 3  # unpickled copies
    assert puts == []


def test_each_call_puts_its_arrays_again(puts: list[Any]) -> None:
    # an array may change between calls: a call never reuses an earlier call's copy
    array = np.zeros(200_000)
    with Parallel(backend="ray", max_nbytes="100k") as parallel:
        assert parallel(delayed(ray_tasks.array_view)(array, 0) for _ in range(2))[0][2] == 0
        array[0] = 5.0
        assert parallel(delayed(ray_tasks.array_view)(array, 0) for _ in range(2))[0][2] == 5.0
    assert len(puts) == 2


def test_scatter_puts_listed_objects_once(puts: list[Any]) -> None:
    table = {"weights": list(range(1000))}
    with parallel_config("ray", scatter=[table]):
        out = Parallel(batch_size=1)(delayed(ray_tasks.lookup)(table, "weights") for _ in range(6))
    assert out == [999] * 6
    assert len(puts) == 1 and puts[0] is table


def test_bad_scatter_is_refused() -> None:
    with pytest.raises(TypeError, match="scatter must be a list or tuple"):
        Parallel(backend="ray", scatter="data")
