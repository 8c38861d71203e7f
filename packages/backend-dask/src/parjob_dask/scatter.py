"""Data sent to the workers once instead of inside every batch, and how batches refer to it.

Two kinds:

* explicit: ``parallel_config("dask", scatter=[X, y])``. Scattered once per block, as
  joblib does: the block's backend parameters (one dict for the block and the blocks
  nested in it that name no backend) are its identity, so the same list in a new block
  is sent again, with its current contents. Cached per client, and released when the
  block ends (the core's ``parallel_config_entered`` hook). ``Parallel(backend="dask",
  scatter=[...])`` scatters once per ``Parallel``.
* automatic: numpy and pandas arguments of at least ``scatter_threshold`` bytes, scattered
  on first use within a call and released when the call ends.

A :class:`Table` holds every object it has a future for, so no other object can take its
``id()`` while the table lives, and it resolves an object only to that object's own future.
A batch is pickled with the scattered objects swapped for placeholders (pickle persistent
ids); the matching futures are passed to dask as a tuple argument of the batch's task, so
dask hands the worker-side objects to :func:`load_batch`, which puts them back in place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from parjob import config, references
from parjob.memmap import ArrayStore
from parjob.tasks import Batch
from parjob_dask.cluster import direct, isolated

if TYPE_CHECKING:
    from distributed import Client, Future


class Table:
    """Scattered objects and their futures, by identity (each object is kept alive)."""

    __slots__ = ("_items",)

    def __init__(self, pairs: Iterable[tuple[Any, Future]] = ()) -> None:
        self._items: dict[int, tuple[Any, Future]] = {id(obj): (obj, f) for obj, f in pairs}

    def future_of(self, obj: Any) -> Future | None:
        """``obj``'s own future; None for any other object, even one at a reused address."""
        found = self._items.get(id(obj))
        return found[1] if found is not None and found[0] is obj else None

    def __contains__(self, obj: Any) -> bool:
        return self.future_of(obj) is not None

    def __len__(self) -> int:
        return len(self._items)

    def __or__(self, other: Table) -> Table:
        merged = Table()
        merged._items = {**self._items, **other._items}
        return merged


EMPTY = Table()


def scatter_now(client: Client, objects: Sequence[Any]) -> Table:
    """Send ``objects`` to ``client``'s cluster (outside the caller's context)."""
    items = list(objects)
    if not items:
        return EMPTY
    futures = isolated(client.scatter, items, hash=False, direct=direct(client))
    return Table(zip(items, futures, strict=True))


# -- explicit scatter lists, once per block --------------------------------------------


class _Entry:
    __slots__ = ("client", "table")

    def __init__(self, client: Client, table: Table) -> None:
        self.client = client
        self.table = table


#: blocks in force that carry a scatter list: id of their backend parameters -> [the
#: parameters (kept alive, so the id is not reused), entries of that dict in force]
_blocks: dict[int, list[Any]] = {}
#: scattered tables by (client, block)
_entries: dict[tuple[int, int], _Entry] = {}
_lock = threading.Lock()


def open_block(block: Mapping[str, Any]) -> Callable[[], None]:
    """Note that a ``parallel_config`` block whose parameters are ``block`` was entered;
    the callable returned, called when the block is left, releases what it scattered.

    The same parameters may be in force more than once at a time (one config object
    entered in several threads): their data goes when the last of them is left.
    """
    key = id(block)
    with _lock:
        entry = _blocks.setdefault(key, [block, 0])
        entry[1] += 1

    def close() -> None:
        with _lock:
            entry[1] -= 1
            if entry[1] > 0:
                return
            _blocks.pop(key, None)
            released = [_entries.pop(k) for k in [k for k in _entries if k[1] == key]]
        del released  # dropping the futures releases their keys on the scheduler

    return close


def is_open(block: Mapping[str, Any]) -> bool:
    """Whether the block with these parameters is still in force somewhere."""
    found = _blocks.get(id(block))
    return found is not None and found[0] is block


def scattered(client: Client, objects: Sequence[Any], block: Mapping[str, Any]) -> Table:
    """The table of ``objects``, scattered to ``client``'s cluster once for ``block`` (a
    block in force: see :func:`is_open`), and released when the block ends."""
    key = (id(client), id(block))
    with _lock:
        entry = _entries.get(key)
    if entry is not None and entry.client.status != "closed":
        return entry.table
    table = scatter_now(client, objects)
    with _lock:
        if not is_open(block):  # the block ended meanwhile (another thread): keep nothing
            return table
        _entries[key] = _Entry(client, table)
        return table


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


def dumps(
    batch: Batch, table: Table, store: ArrayStore | None = None
) -> tuple[bytes, tuple[Future, ...]]:
    """Pickle ``batch``; objects in ``table`` become references to their futures, and
    with a ``store`` (workers on this machine) large numpy arrays become memory maps."""
    return references.dumps(batch, table.future_of if table else None, store)


def block_of(objects: Any) -> Any:
    """The active block's backend parameters, if they carry ``objects`` as ``scatter``.

    One dict per ``parallel_config(..., scatter=...)`` block, shared by the blocks nested in
    it that name no backend: the identity of "this block" for the scatter cache.
    """
    if objects is None:
        return None
    params = config.current().get("backend_params")
    return params if params is not None and params.get("scatter") is objects else None
