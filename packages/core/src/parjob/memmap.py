"""Large NumPy arrays travel to workers as memory-mapped files instead of in the pickle.

:class:`ArrayStore` belongs to one backend and lives for one call (or one ``with
Parallel()`` block). While a batch is pickled, each array over ``max_nbytes`` is written
once to a file in a private folder (mode 0700), and the pickle carries only the file name:
workers open it as an ``np.memmap`` with ``mmap_mode``, so a large array passed to many
tasks is written once and read in place by every worker. Arrays that are already backed by
a memory-mapped file (``np.memmap``, ``np.load(mmap_mode=...)``) are passed by reference
to that file, whatever their size. The folder is removed by :meth:`ArrayStore.close`, which
the backend calls after the call, an error, a timeout, a worker crash or Ctrl-C; a
finalizer and the loky resource tracker remove it if the process ends first.

NumPy is imported lazily: without it no array can exist, and none of this runs.
"""

from __future__ import annotations

import contextlib
import io
import math
import mmap
import os
import pickle
import shutil
import sys
import tempfile
import weakref
from typing import Any

import cloudpickle

from parjob.backend import RunSettings
from parjob.sweep import sweep_once

SHARED_MEM_FOLDER = "/dev/shm"
_CHUNK = 64 * 1024**2  # bytes per write when a non-contiguous array is made contiguous


def base_folder(temp_folder: str | None) -> tuple[str, bool]:
    """Where per-call folders go, and whether it is the automatic shared-memory choice.

    In order: ``temp_folder``, ``PARJOB_TEMP_FOLDER``, ``JOBLIB_TEMP_FOLDER``, ``/dev/shm``
    when it exists and is writable, then the system temporary folder.
    """
    for candidate in (
        temp_folder,
        os.environ.get("PARJOB_TEMP_FOLDER"),
        os.environ.get("JOBLIB_TEMP_FOLDER"),
    ):
        if candidate:
            return os.path.abspath(os.path.expanduser(candidate)), False
    if os.path.isdir(SHARED_MEM_FOLDER) and os.access(SHARED_MEM_FOLDER, os.W_OK | os.X_OK):
        return SHARED_MEM_FOLDER, True
    return tempfile.gettempdir(), False


class ArrayStore:
    """Writes the large arrays of one call to memory-mapped files, each array once."""

    def __init__(self, settings: RunSettings) -> None:
        self.max_nbytes = settings.max_nbytes
        self.temp_folder = settings.temp_folder
        # workers must not truncate the file the caller wrote: "w+" reopens as "r+"
        self.mode = "r+" if settings.mmap_mode == "w+" else settings.mmap_mode
        self.folders: list[str] = []  # created by this store, newest last
        self._shm_full = False
        self._count = 0
        self._memo: dict[int, tuple[weakref.ref[Any], tuple[Any, ...]]] = {}
        self._results: tuple[str, int] | bool | None = False  # False: not chosen yet
        self._finalizer = weakref.finalize(self, _remove_folders, self.folders)

    def results_folder(self) -> tuple[str, int] | None:
        """Where workers write results over ``max_nbytes`` (see :func:`spill`), and that
        size: this call's folder, when it is in shared memory; else None, and results
        travel in the pickle."""
        if self._results is False:
            self._results = None
            if self.max_nbytes is not None and os.name == "posix" and not self._shm_full:
                _, shared = base_folder(self.temp_folder)
                if shared and sys.modules.get("numpy") is not None:
                    folder, shared = self._folder_for(0)
                    self._results = (folder, self.max_nbytes) if shared else None
        return self._results  # type: ignore[return-value]

    # -- pickling --------------------------------------------------------------------
    def dumps(self, obj: Any) -> bytes:
        """Pickle ``obj`` with cloudpickle, large arrays replaced by their files."""
        numpy = sys.modules.get("numpy")
        if numpy is None:  # no numpy, no arrays
            return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        buffer = io.BytesIO()
        ArrayPickler(buffer, self).dump(obj)
        return buffer.getvalue()

    def reduce(self, array: Any) -> tuple[Any, ...] | None:
        """How to pickle ``array``: a file reference, or None for the usual pickle."""
        if array.size == 0 or array.ndim == 0 or array.dtype.hasobject:
            return None
        backing = _backing_memmap(array)
        if backing is not None:
            return _reference(array, backing)
        if self.max_nbytes is None or array.nbytes <= self.max_nbytes:
            return None
        key = id(array)
        known = self._memo.get(key)
        if known is not None and known[0]() is array:
            return known[1]
        reduced = self._write(array)
        # A weak reference: the store does not keep arrays alive, and the entry goes away
        # with its array, before its id can be reused.
        memo = self._memo
        ref = weakref.ref(array, lambda _, key=key: memo.pop(key, None))
        memo[key] = (ref, reduced)
        return reduced

    # -- files -----------------------------------------------------------------------
    def _write(self, array: Any) -> tuple[Any, ...]:
        order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
        self._count += 1
        name = f"array-{self._count}.mmap"
        folder, automatic = self._folder_for(array.nbytes)
        try:
            _write_array(array, os.path.join(folder, name), order)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))
            if not automatic:
                raise
            # /dev/shm filled up while we wrote (other processes use it too): use the disk
            self._shm_full = True
            folder, _ = self._folder_for(array.nbytes)
            _write_array(array, os.path.join(folder, name), order)
        path = os.path.join(folder, name)
        return (_open_memmap, (path, array.dtype, array.shape, order, self.mode))

    def _folder_for(self, nbytes: int) -> tuple[str, bool]:
        """The folder for the next file, created on first use, and whether it is the
        automatic /dev/shm choice (which falls back to the disk when it is full)."""
        base, shared = base_folder(self.temp_folder)
        if shared and (self._shm_full or not _has_room(base, nbytes)):
            self._shm_full = True
            base, shared = tempfile.gettempdir(), False
        for folder in reversed(self.folders):
            if os.path.dirname(folder) == base:
                return folder, shared
        os.makedirs(base, exist_ok=True)
        sweep_once(base, "parjob_")  # folders of parjob processes killed before their exit
        folder = tempfile.mkdtemp(prefix=f"parjob_{os.getpid()}_", dir=base)  # mode 0700
        self.folders.append(folder)
        _track(folder)
        return folder, shared

    def new_call(self) -> None:
        """A new call begins in the same ``with Parallel()`` block: forget the last one's
        arrays (they may have changed since) and remove its files."""
        self._memo.clear()
        self._results = False
        for folder in self.folders:
            for name in os.listdir(folder):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))

    def close(self) -> None:
        """Remove every folder this store created (idempotent)."""
        self._memo.clear()
        self._shm_full = False
        self._results = False
        _remove_folders(self.folders)


class ArrayPickler(cloudpickle.Pickler):
    """cloudpickle, with NumPy arrays reduced by ``store`` (plain cloudpickle without one)."""

    def __init__(self, file: io.BytesIO, store: ArrayStore | None) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._store = store
        numpy = sys.modules.get("numpy")
        # Only plain arrays and memory maps: a subclass (np.matrix, np.recarray,
        # np.ma.MaskedArray) has behaviour or state that a bare np.memmap would lose, so it
        # travels in the pickle, as itself.
        self._mapped = (
            (numpy.ndarray, numpy.memmap) if numpy is not None and store is not None else ()
        )

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) in self._mapped:
            reduced = self._store.reduce(obj)  # type: ignore[union-attr]
            return NotImplemented if reduced is None else reduced
        return super().reducer_override(obj)


def _has_room(folder: str, nbytes: int) -> bool:
    try:
        return shutil.disk_usage(folder).free > nbytes + 16 * 1024**2
    except OSError:
        return False


def _write_array(array: Any, path: str, order: str) -> None:
    numpy = sys.modules["numpy"]
    with open(path, "wb") as file:
        if array.flags.c_contiguous:
            array.tofile(file)
        elif order == "F":
            array.T.tofile(file)  # the transpose of an F-contiguous array is C-contiguous
        else:  # a strided view: copy it in slices along the first axis, to bound memory
            rows = max(_CHUNK // max(array[:1].nbytes, 1), 1)
            for start in range(0, array.shape[0], rows):
                numpy.ascontiguousarray(array[start : start + rows]).tofile(file)


def _backing_memmap(array: Any) -> Any:
    """The ``np.memmap`` that owns ``array``'s memory (a file on disk), if any."""
    numpy = sys.modules["numpy"]
    current = array
    while current is not None:
        base = getattr(current, "base", None)
        if isinstance(base, mmap.mmap):
            if isinstance(current, numpy.memmap) and getattr(current, "filename", None):
                return current
            return None
        current = base
    return None


def _reference(array: Any, backing: Any) -> tuple[Any, ...]:
    """Pickle ``array``, a view of the file-backed ``backing``, as a reference to the file."""
    mode = "r+" if backing.mode == "w+" else backing.mode
    start = array.__array_interface__["data"][0] - backing.__array_interface__["data"][0]
    order = "C" if array.flags.c_contiguous else "F" if array.flags.f_contiguous else None
    if order is not None:
        offset = backing.offset + start
        return (_open_memmap, (backing.filename, array.dtype, array.shape, order, mode, offset))
    steps = [stride * (n - 1) for stride, n in zip(array.strides, array.shape, strict=True)]
    low = start + sum(step for step in steps if step < 0)
    high = start + sum(step for step in steps if step > 0)
    span = high - low + array.itemsize
    view = (array.dtype, array.shape, array.strides, start - low)
    return (_open_strided, (backing.filename, mode, backing.offset + low, span, view))


# -- in the worker -------------------------------------------------------------------
def _open_memmap(
    path: str, dtype: Any, shape: tuple[int, ...], order: str, mode: str, offset: int = 0
) -> Any:
    import numpy

    return numpy.memmap(path, dtype=dtype, mode=mode, offset=offset, shape=shape, order=order)


def _open_strided(path: str, mode: str, offset: int, span: int, view: tuple[Any, ...]) -> Any:
    import numpy

    raw = numpy.memmap(path, dtype=numpy.uint8, mode=mode, offset=offset, shape=(span,))
    dtype, shape, strides, start = view
    return numpy.ndarray(shape, dtype, buffer=raw, offset=start, strides=strides)


# -- results: written by a worker, mapped by the caller ---------------------------------
_spilled = 0


def spill(array: Any, folder: str, min_nbytes: int) -> tuple[Any, ...] | None:
    """In a worker: write a result array over ``min_nbytes`` to ``folder`` and return how to
    unpickle it (the caller maps the file, then unlinks it), or None when it should travel
    in the pickle (small, object dtype, no room left, or the folder is gone).

    The array is copied once, into shared memory; the caller uses those pages in place,
    where a pickle through a pipe would copy it three times.
    """
    global _spilled
    if array.size == 0 or array.dtype.hasobject or array.nbytes <= min_nbytes:
        return None
    if not _has_room(folder, array.nbytes):
        return None
    _spilled += 1
    path = os.path.join(folder, f"result-{os.getpid()}-{_spilled}.mmap")
    order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
    try:
        _write_array(array, path, order)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return None
    return (_load_result, (path, array.dtype, array.shape, order))


def _load_result(path: str, dtype: Any, shape: tuple[int, ...], order: str) -> Any:
    """In the caller: an ordinary, writable array on the pages of the file a worker wrote;
    the file is unlinked at once, so its memory goes away with the array."""
    import numpy

    nbytes = dtype.itemsize * math.prod(shape)
    with open(path, "r+b") as file:
        # populated now, in the pool's thread, rather than page by page by the code that
        # reads the result (Linux; elsewhere the flag does not exist)
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        mapped = mmap.mmap(file.fileno(), nbytes, flags=flags)
    with contextlib.suppress(OSError):
        os.unlink(path)
    return numpy.frombuffer(mapped, dtype=dtype).reshape(shape, order=order)


# -- clean-up --------------------------------------------------------------------------
_tracked: set[str] = set()


def _track(folder: str) -> None:
    """Let loky's resource tracker remove ``folder`` if this process dies first.

    Only where a loky backend already runs (and so its tracker): other backends rely on
    the finalizer and their own clean-up, without starting a tracker process.
    """
    if "loky" not in sys.modules:
        return
    try:
        from loky.backend import resource_tracker

        resource_tracker.register(folder, "folder")
    except Exception:  # no tracker: the finalizer and the backend still remove it
        return
    _tracked.add(folder)


def _remove_folders(folders: list[str]) -> None:
    while folders:
        folder = folders.pop()
        shutil.rmtree(folder, ignore_errors=True)
        if folder in _tracked:
            _tracked.discard(folder)
            with contextlib.suppress(Exception):
                from loky.backend import resource_tracker

                resource_tracker.unregister(folder, "folder")
