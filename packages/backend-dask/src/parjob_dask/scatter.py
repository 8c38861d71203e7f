"""Data sent to the workers once instead of inside every batch, and how batches refer to it.

Two kinds:

* explicit: ``parallel_config("dask", scatter=[X, y])``. Scattered once per context: the
  list object is the context's identity (every ``Parallel`` in the block receives the same
  list), cached per client, and released as soon as nothing but this cache holds the list.
* automatic: numpy and pandas arguments of at least ``scatter_threshold`` bytes, scattered
  on first use within a call and released when the call ends.

A batch is pickled with the scattered objects swapped for placeholders (pickle persistent
ids); the matching futures are passed to dask as a tuple argument of the batch's task, so
dask hands the worker-side objects to :func:`load_batch`, which puts them back in place.
"""

from __future__ import annotations

import gc
import io
import pickle
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import cloudpickle

from parjob.memmap import ArrayPickler, ArrayStore
from parjob.tasks import Batch, paused_gc
from parjob_dask.cluster import direct, isolated

if TYPE_CHECKING:
    from distributed import Client, Future

_PROTOCOL = pickle.HIGHEST_PROTOCOL

# -- explicit scatter lists, once per context ----------------------------------------


class _Entry:
    __slots__ = ("client", "futures", "objects")

    def __init__(self, objects: Sequence[Any], client: Client, futures: dict[int, Future]):
        self.objects = objects  # the user's list: holding it keeps the ids valid
        self.client = client
        self.futures = futures


_entries: dict[tuple[int, int], _Entry] = {}
_lock = threading.Lock()


def scattered(client: Client, objects: Sequence[Any]) -> dict[int, Future]:
    """``{id(obj): future}`` for ``objects``, scattered to ``client``'s cluster once."""
    sweep()
    key = (id(client), id(objects))
    with _lock:
        entry = _entries.get(key)
    if entry is not None:
        return entry.futures
    items = list(objects)
    futures = isolated(client.scatter, items, hash=False, direct=direct(client)) if items else []
    table = {id(obj): future for obj, future in zip(items, futures, strict=True)}
    with _lock:
        _entries[key] = _Entry(objects, client, table)
        if _on_gc not in gc.callbacks:
            gc.callbacks.append(_on_gc)
    return table


def sweep(blocking: bool = True) -> None:
    """Release the scattered data of contexts that ended (nothing else holds their list)."""
    if not _lock.acquire(blocking):
        return
    try:
        # 2 references: the entry's slot and getrefcount's own argument
        dead = [
            key
            for key, entry in _entries.items()
            if sys.getrefcount(entry.objects) <= 2 or entry.client.status == "closed"
        ]
        released = [_entries.pop(key) for key in dead]
        if not _entries and _on_gc in gc.callbacks:
            gc.callbacks.remove(_on_gc)
    finally:
        _lock.release()
    del released  # dropping the futures releases their keys on the scheduler


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    # A context ends without telling its backends; the collector runs often enough to
    # notice soon after. Registered only while some scatter list is cached.
    if phase == "stop" and _entries:
        sweep(blocking=False)


# -- automatic scatter of large numpy / pandas arguments --------------------------------

_SCANNED_CONTAINER = 32  # look one level into lists, tuples and dicts up to this size


def large_arguments(
    batch: Batch, threshold: int, modules: tuple[str, ...] = ("numpy", "pandas")
) -> Iterator[Any]:
    """Objects of ``modules`` of at least ``threshold`` bytes among the batch's arguments."""
    for _, args, kwargs in batch.tasks:
        for value in (*args, *kwargs.values()):
            if isinstance(value, (list, tuple)) and len(value) <= _SCANNED_CONTAINER:
                for item in value:
                    if _is_large(item, threshold, modules):
                        yield item
            elif isinstance(value, dict) and len(value) <= _SCANNED_CONTAINER:
                for item in value.values():
                    if _is_large(item, threshold, modules):
                        yield item
            elif _is_large(value, threshold, modules):
                yield value


def _is_large(obj: Any, threshold: int, modules: tuple[str, ...]) -> bool:
    if type(obj).__module__.partition(".")[0] not in modules:
        return False
    from dask.sizeof import sizeof

    return sizeof(obj) >= threshold


# -- pickling with placeholders ------------------------------------------------------


class _Pickler(ArrayPickler):
    """The core's array pickler, with scattered objects swapped for placeholders."""

    def __init__(
        self, file: io.BytesIO, table: dict[int, Future], store: ArrayStore | None
    ) -> None:
        super().__init__(file, store)
        self.table = table
        self.used: dict[int, int] = {}
        self.futures: list[Future] = []

    def persistent_id(self, obj: Any) -> int | None:
        future = self.table.get(id(obj))
        if future is None:
            return None
        index = self.used.get(id(obj))
        if index is None:
            index = self.used[id(obj)] = len(self.futures)
            self.futures.append(future)
        return index


def dumps(
    batch: Batch, table: dict[int, Future], store: ArrayStore | None = None
) -> tuple[bytes, tuple[Future, ...]]:
    """Pickle ``batch``; objects in ``table`` become references to their futures, and
    with a ``store`` (workers on this machine) large numpy arrays become memory maps."""
    if not table and store is None:
        return cloudpickle.dumps(batch, protocol=_PROTOCOL), ()
    buffer = io.BytesIO()
    pickler = _Pickler(buffer, table, store)
    pickler.dump(batch)
    return buffer.getvalue(), tuple(pickler.futures)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, values: tuple[Any, ...]) -> None:
        super().__init__(file)
        self.values = values

    def persistent_load(self, pid: Any) -> Any:
        return self.values[pid]


def load_batch(data: bytes, values: tuple[Any, ...]) -> Batch:
    """Unpickle a batch on the worker, with the worker-side scattered objects in place
    (and the garbage collector paused, as :meth:`parjob.tasks.EncodedBatch.load` does)."""
    with paused_gc():
        if not values:
            return pickle.loads(data)  # type: ignore[no-any-return]
        return _Unpickler(io.BytesIO(data), values).load()  # type: ignore[no-any-return]
