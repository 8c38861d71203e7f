"""What a worker process runs for each batch: :func:`run`.

It records which batch it starts (for crash reports), then unpickles and runs the batch
(large arrays open as memory maps while it unpickles); the core's worker side applies the
thread limits (``parjob.threadlimits``).
"""

from __future__ import annotations

import pickle
import sys
import time
from typing import Any

from parjob import memmap
from parjob.tasks import BatchResult
from parjob_loky import crash

_result_reducers = False
_protocol = pickle.HIGHEST_PROTOCOL  # loky pickles results with cloudpickle's default
_spill: tuple[str, int] | None = None


def run(
    work: Any,
    token: int,
    status: str | None,
    spill: tuple[str, int] | None = None,
) -> tuple[BatchResult, float]:
    """Run one encoded batch in this worker; called through the process pool.

    Returns the batch's result and when the worker started on it (``time.monotonic()``,
    the same clock in every process of a machine), from which the caller measures the
    whole cost of the batch, sending the results back included. ``spill`` is where result
    arrays over a size go instead of the pickle (see :func:`parjob.memmap.spill`).
    """
    global _spill
    started = time.monotonic()
    _spill = spill  # read while the pool pickles this batch's results, right after
    if status is not None:
        crash.mark(status, token)
    try:
        return work(), started
    finally:
        if not _result_reducers and sys.modules.get("numpy") is not None:
            _register_result_reducers()


def _register_result_reducers() -> None:
    """Pickle result arrays with :func:`_reduce_array` from now on in this worker."""
    global _protocol, _result_reducers
    import numpy
    from loky.backend.reduction import get_loky_pickler_name, register

    if get_loky_pickler_name() != "cloudpickle":
        _protocol = pickle.DEFAULT_PROTOCOL
    register(numpy.ndarray, _reduce_array)
    register(numpy.memmap, _reduce_array)
    _result_reducers = True


def _reduce_array(array: Any) -> tuple[Any, ...]:
    """How a result array travels back to the caller.

    Over the call's ``max_nbytes``, through a file in shared memory when the call has one
    (copied once, used in place by the caller). Otherwise in the pickle, with protocol 5
    (the array's memory goes straight into the stream); a memory map, whose file belongs to
    the call and is removed after it, as a plain array, writable even when the map was not.
    """
    import numpy

    plain = array if type(array) is numpy.ndarray else numpy.asarray(array)
    if _spill is not None:
        reduced = memmap.spill(plain, *_spill)
        if reduced is not None:
            return reduced
    if plain is array or plain.flags.writeable:
        return plain.__reduce_ex__(_protocol)  # type: ignore[no-any-return]
    return plain.__reduce_ex__(4)  # type: ignore[no-any-return]  # arrives writable
