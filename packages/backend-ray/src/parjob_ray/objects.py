"""Large arguments go into Ray's object store once per call and reach tasks by reference.

Two kinds: NumPy arrays larger than ``max_nbytes``, and every object listed in
``scatter=[...]``. Each is ``ray.put`` once, on first use in a call. A batch is pickled
with those objects swapped for placeholders (pickle persistent ids); their ObjectRefs are
passed as top-level arguments of the batch's task, so Ray hands the worker the stored
objects (NumPy arrays zero-copy, read-only, from shared memory) and
:func:`parjob.references.load_batch` puts them back in place. Dropping the refs at the end
of the call frees the objects.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from parjob import references
from parjob.tasks import Batch

if TYPE_CHECKING:
    from ray import ObjectRef

_SCANNED_CONTAINER = 32  # look one level into lists, tuples and dicts up to this size


class ObjectStoreArgs:
    """The objects of one call that travel through the object store, put on first use."""

    def __init__(self, max_nbytes: int | None, scatter: Sequence[Any] | None) -> None:
        self.max_nbytes = max_nbytes
        #: the user's list: holding it keeps the ids of its objects valid for the call
        self._scatter = scatter
        self._scatter_ids = frozenset(map(id, scatter)) if scatter else frozenset()
        self._refs: dict[int, tuple[Any, ObjectRef]] = {}  # holding obj keeps its id valid

    def dumps(self, batch: Batch) -> tuple[bytes, tuple[ObjectRef, ...]]:
        """Pickle ``batch``, the objects for the store swapped for references to them."""
        found = {id(obj): obj for obj in self._candidates(batch) if self._wanted(obj)}
        if not found:
            return references.dumps(batch, None)
        self._put([obj for key, obj in found.items() if key not in self._refs])
        return references.dumps(batch, self._ref_of)

    def _ref_of(self, obj: Any) -> ObjectRef | None:
        """``obj``'s own ref; None for any other object, even one at a reused address."""
        found = self._refs.get(id(obj))
        return found[1] if found is not None and found[0] is obj else None

    def release(self) -> None:
        """Drop the call's references: Ray frees the objects once no task needs them."""
        self._refs.clear()

    def __len__(self) -> int:
        return len(self._refs)

    def _candidates(self, batch: Batch) -> Iterator[Any]:
        if not self._scatter_ids and (self.max_nbytes is None or "numpy" not in sys.modules):
            return iter(())  # nothing could be wanted: skip the scan
        return _arguments(batch)

    def _wanted(self, obj: Any) -> bool:
        if id(obj) in self._scatter_ids:
            return True
        if self.max_nbytes is None:
            return False
        numpy = sys.modules.get("numpy")
        return numpy is not None and isinstance(obj, numpy.ndarray) and obj.nbytes > self.max_nbytes

    def _put(self, objects: list[Any]) -> None:
        import ray

        for obj in objects:
            self._refs[id(obj)] = (obj, ray.put(obj))


def _arguments(batch: Batch) -> Iterator[Any]:
    """The batch's arguments, and the items of small lists, tuples and dicts among them."""
    for _, args, kwargs in batch.tasks:
        for value in (*args, *kwargs.values()):
            yield value
            if isinstance(value, (list, tuple)) and len(value) <= _SCANNED_CONTAINER:
                yield from value
            elif isinstance(value, dict) and len(value) <= _SCANNED_CONTAINER:
                yield from value.values()
