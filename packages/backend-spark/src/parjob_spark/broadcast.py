"""Large arguments sent to the executors once per call instead of inside every batch.

Two kinds, both swapped for references while a batch is pickled (pickle persistent ids):

* numpy arrays of more than ``max_nbytes`` bytes, wherever they sit in a task;
* the objects of ``scatter=[...]`` (by identity), whatever their size.

Each such object is shipped once per call: as a Spark broadcast variable on classic Spark
(handed to the job with its partition function, so Spark registers it for that job, and
destroyed when the call ends), and as a session artifact on Spark Connect, which has no
broadcast variables (a pickled file, read once per Python worker and call). Executors load
a referenced object on first use and keep it for the rest of the call.

In local mode (``local[N]``: the executors are threads of this machine's driver JVM, their
Python workers processes of this machine) large arrays skip Spark altogether: they are
written once to a memory-mapped file (the core's :class:`parjob.memmap.ArrayStore`, as the
loky and dask backends do) and the workers map it read-only, where a broadcast would pickle
the array, copy it into the JVM's blocks and write it out again for the workers.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import sys
import tempfile
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import cloudpickle

from parjob.memmap import ArrayPickler, ArrayStore
from parjob.tasks import Batch, paused_gc

_PROTOCOL = pickle.HIGHEST_PROTOCOL


class Shipment:
    """The objects of one call that travel once, and what executors fetch them by.

    ``handles[i]`` is a pyspark ``Broadcast`` (classic) or an artifact file name
    (Spark Connect) for the object pickled as reference ``i``.
    """

    def __init__(
        self,
        session: Any,
        connect: bool,
        max_nbytes: int | None,
        scatter: Sequence[Any] = (),
        store: ArrayStore | None = None,
    ) -> None:
        self.session = session
        self.connect = connect
        self.max_nbytes = max_nbytes
        #: where large arrays go instead, when the workers share this machine's memory
        self.store = store
        self.call = uuid.uuid4().hex
        self._lock = threading.Lock()
        self.objects: list[Any] = []  # held, so their ids stay valid during the call
        self.index: dict[int, int] = {}
        self.handles: list[Any] = []
        for obj in scatter:
            self._ship(obj)

    def dumps(self, batch: Batch) -> tuple[bytes, tuple[int, ...]]:
        """Pickle ``batch`` with large objects as references; also the references used."""
        numpy = sys.modules.get("numpy")
        if not self.index and (numpy is None or self.max_nbytes is None):
            return cloudpickle.dumps(batch, protocol=_PROTOCOL), ()
        buffer = io.BytesIO()
        # arrays go to the store when there is one (the pickler's reducer), else travel once
        ndarray = numpy.ndarray if numpy is not None and self.store is None else None
        pickler = _Pickler(buffer, self, ndarray)
        pickler.dump(batch)
        return buffer.getvalue(), tuple(sorted(pickler.used))

    def reference(self, obj: Any, ndarray: Any) -> int | None:
        """The reference of ``obj`` if it travels once (shipping it now if new), else None."""
        known = self.index.get(id(obj))
        if known is not None:
            return known
        if (
            ndarray is not None
            and self.max_nbytes is not None
            and type(obj) is ndarray
            and obj.nbytes > self.max_nbytes
            and not obj.dtype.hasobject
        ):
            return self._ship(obj)
        return None

    def _ship(self, obj: Any) -> int:
        with self._lock:
            known = self.index.get(id(obj))
            if known is not None:
                return known
            handle = self._upload(obj) if self.connect else self.session.sparkContext.broadcast(obj)
            self.objects.append(obj)
            self.handles.append(handle)
            self.index[id(obj)] = len(self.handles) - 1
            return len(self.handles) - 1

    def _upload(self, obj: Any) -> str:
        name = f"parjob-{self.call}-{len(self.handles)}.pkl"
        folder = tempfile.mkdtemp(prefix="parjob_spark_")
        path = os.path.join(folder, name)
        try:
            with open(path, "wb") as file:
                cloudpickle.dump(obj, file, protocol=_PROTOCOL)
            self.session.addArtifacts(path, file=True)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
                os.rmdir(folder)
        return name

    def release(self) -> None:
        """End of the call: destroy the broadcasts and remove the memory-mapped files
        (artifacts live as long as the session)."""
        if self.store is not None:
            self.store.close()
        with self._lock:
            handles, self.handles = self.handles, []
            self.objects.clear()
            self.index.clear()
        if not self.connect:
            for handle in handles:
                with contextlib.suppress(Exception):  # the context may be stopping
                    handle.destroy(blocking=False)


class _Pickler(ArrayPickler):
    """The core's array pickler (arrays to the store, if any), objects that travel once
    swapped for references."""

    def __init__(self, file: io.BytesIO, shipment: Shipment, ndarray: Any) -> None:
        super().__init__(file, shipment.store)
        self.shipment = shipment
        self.ndarray = ndarray
        self.used: set[int] = set()

    def persistent_id(self, obj: Any) -> int | None:
        ref = self.shipment.reference(obj, self.ndarray)
        if ref is not None:
            self.used.add(ref)
        return ref


# -- in the executor -------------------------------------------------------------------

#: objects loaded from artifacts, for the call that uses them (one call at a time per
#: Python worker: another call's objects are dropped when a new call's task arrives)
_loaded: dict[str, Any] = {"call": None, "values": {}}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, handles: Sequence[Any], call: str) -> None:
        super().__init__(file)
        self.handles = handles
        self.call = call

    def persistent_load(self, pid: Any) -> Any:
        return fetch(self.handles[pid], self.call)


def fetch(handle: Any, call: str) -> Any:
    """The object behind a handle, loaded once per Python worker and call."""
    if not isinstance(handle, str):
        return handle.value  # a Broadcast: pyspark caches it per worker
    if _loaded["call"] != call:
        _loaded["call"], _loaded["values"] = call, {}
    values = _loaded["values"]
    if handle not in values:
        from pyspark import SparkFiles

        with open(SparkFiles.get(handle), "rb") as file:
            values[handle] = pickle.load(file)
    return values[handle]


def load_batch(data: bytes, handles: Sequence[Any], call: str) -> Batch:
    """Unpickle a batch in the executor, its references resolved (garbage collector paused,
    as :meth:`parjob.tasks.EncodedBatch.load` does)."""
    with paused_gc():
        if not handles:
            return pickle.loads(data)  # type: ignore[no-any-return]
        return _Unpickler(io.BytesIO(data), handles, call).load()  # type: ignore[no-any-return]
