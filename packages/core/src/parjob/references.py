"""Batches pickled with some objects left out, as references to copies a cluster already holds.

Cluster backends keep large arguments (``scatter=[...]``, big arrays) in the engine's own
store: dask futures, Ray object refs, Spark broadcasts. A batch is pickled with each such
object swapped for a placeholder (a pickle persistent id); the engine hands the worker the
stored objects next to the pickle, and :func:`load_batch` puts them back in place.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cloudpickle

from parjob.memmap import ArrayPickler
from parjob.tasks import Batch, paused_gc

if TYPE_CHECKING:
    from parjob.memmap import ArrayStore

#: how a backend finds the stored copy of an object: its reference, or None to pickle it
Lookup = Callable[[Any], Any]


class ReferencePickler(ArrayPickler):
    """cloudpickle (large arrays memory-mapped when given a ``store``), with every object
    that ``lookup`` knows pickled as a placeholder; ``references`` lists them in order."""

    def __init__(self, file: io.BytesIO, lookup: Lookup, store: ArrayStore | None = None) -> None:
        super().__init__(file, store)
        self.lookup = lookup
        self.used: dict[int, int] = {}
        self.references: list[Any] = []

    def persistent_id(self, obj: Any) -> int | None:
        reference = self.lookup(obj)
        if reference is None:
            return None
        index = self.used.get(id(obj))
        if index is None:
            index = self.used[id(obj)] = len(self.references)
            self.references.append(reference)
        return index


def dumps(
    batch: Batch, lookup: Lookup | None, store: ArrayStore | None = None
) -> tuple[bytes, tuple[Any, ...]]:
    """Pickle ``batch``: the pickle, and the references of the objects left out of it."""
    if lookup is None and store is None:
        return cloudpickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL), ()
    buffer = io.BytesIO()
    pickler = ReferencePickler(buffer, lookup or _nothing, store)
    pickler.dump(batch)
    return buffer.getvalue(), tuple(pickler.references)


def _nothing(obj: Any) -> None:
    return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, values: tuple[Any, ...]) -> None:
        super().__init__(file)
        self.values = values

    def persistent_load(self, pid: Any) -> Any:
        return self.values[pid]


def load_batch(data: bytes, values: tuple[Any, ...]) -> Batch:
    """In a worker: unpickle a batch with the stored objects (``values``, in the order of
    the references) in place, the garbage collector paused as in ``EncodedBatch.load``."""
    with paused_gc():
        if not values:
            return pickle.loads(data)  # type: ignore[no-any-return]
        return _Unpickler(io.BytesIO(data), values).load()  # type: ignore[no-any-return]
