"""Large NumPy arrays reach workers as memory maps of files written once per call."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from loky_tasks import (
    column_sum,
    describe_array,
    exit_with_array,
    fail_with_array,
    first_rows,
    make_array,
    make_strided,
    sleep_with_array,
    write_into,
)

from parjob import Parallel, RunSettings, WorkerCrashedError, delayed, memmap, parallel_config

BACKENDS = ["loky", "multiprocessing"]
MB = 1024**2


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def big() -> np.ndarray:
    return np.arange(2 * MB // 8, dtype=np.float64).reshape(-1, 64)  # 2 MiB


def test_large_array_arrives_as_a_read_only_memmap(
    backend: str, big: np.ndarray, tmp_path: Path
) -> None:
    seen = Parallel(n_jobs=2, backend=backend, temp_folder=str(tmp_path))(
        delayed(describe_array)(big) for _ in range(3)
    )
    for info in seen:
        assert info["type"] == "memmap"
        assert info["writeable"] is False
        assert info["sum"] == float(big.sum())
        assert info["shape"] == big.shape
        assert os.path.dirname(info["folder"]) == str(tmp_path)
        assert info["folder_mode"] == 0o700
    assert os.listdir(tmp_path) == []  # removed after the call


def test_writing_to_a_read_only_memmap_fails(backend: str, big: np.ndarray) -> None:
    with pytest.raises(ValueError, match="read-only"):
        Parallel(n_jobs=2, backend=backend)(delayed(write_into)(big, 0, 1.0) for _ in range(2))


def test_same_array_is_written_once_per_call(big: np.ndarray, tmp_path: Path) -> None:
    other = big + 1
    seen = Parallel(n_jobs=2, batch_size=1, temp_folder=str(tmp_path))(
        delayed(describe_array)(array) for array in [big] * 10 + [other] * 5
    )
    assert len({info["filename"] for info in seen[:10]}) == 1
    assert len({info["filename"] for info in seen}) == 2
    assert max(len(info["files"]) for info in seen) == 2
    assert [info["sum"] for info in seen] == [float(big.sum())] * 10 + [float(other.sum())] * 5


def test_a_changed_array_is_written_again_in_the_next_call(big: np.ndarray) -> None:
    with Parallel(n_jobs=2) as parallel:
        before = parallel(delayed(describe_array)(big) for _ in range(2))
        big[0, 0] = 1e6
        after = parallel(delayed(describe_array)(big) for _ in range(2))
    assert after[0]["sum"] == before[0]["sum"] + 1e6


def test_small_arrays_and_max_nbytes(big: np.ndarray) -> None:
    small = np.ones(100)
    assert Parallel(n_jobs=2)(delayed(describe_array)(small) for _ in range(2))[0]["type"] == (
        "ndarray"
    )
    out = Parallel(n_jobs=2, max_nbytes=None)(delayed(describe_array)(big) for _ in range(2))
    assert {info["type"] for info in out} == {"ndarray"}
    out = Parallel(n_jobs=2, max_nbytes="4M")(delayed(describe_array)(big) for _ in range(2))
    assert {info["type"] for info in out} == {"ndarray"}
    out = Parallel(n_jobs=2, max_nbytes=100)(delayed(describe_array)(small) for _ in range(2))
    assert {info["type"] for info in out} == {"memmap"}
    with parallel_config(max_nbytes="8M"):
        out = Parallel(n_jobs=2)(delayed(describe_array)(big) for _ in range(2))
    assert {info["type"] for info in out} == {"ndarray"}


def test_max_nbytes_none_in_a_config_block_disables_memmapping(big: np.ndarray) -> None:
    with parallel_config(max_nbytes=None):
        out = Parallel(n_jobs=2)(delayed(describe_array)(big) for _ in range(2))
    assert {info["type"] for info in out} == {"ndarray"}


def test_mmap_modes(big: np.ndarray) -> None:
    out = Parallel(n_jobs=2, mmap_mode="c")(delayed(describe_array)(big) for _ in range(2))
    assert out[0]["type"] == "memmap" and out[0]["writeable"] is True
    out = Parallel(n_jobs=2, mmap_mode="r+")(delayed(describe_array)(big) for _ in range(2))
    assert out[0]["type"] == "memmap" and out[0]["writeable"] is True
    out = Parallel(n_jobs=2, mmap_mode="w+")(delayed(describe_array)(big) for _ in range(2))
    assert out[0]["sum"] == float(big.sum())  # reopened without truncating
    out = Parallel(n_jobs=2, mmap_mode=None)(delayed(describe_array)(big) for _ in range(2))
    assert out[0]["type"] == "ndarray"


def test_fortran_and_strided_arrays_keep_their_values() -> None:
    base = np.arange(512 * 1024, dtype=np.float64).reshape(1024, 512)
    for array in (np.asfortranarray(base), base[::2, ::3], base.T, base[::-1]):
        out = Parallel(n_jobs=2, max_nbytes=1000)(delayed(first_rows)(array, 5) for _ in range(2))
        np.testing.assert_array_equal(out[0], array[:5])


def test_a_file_backed_array_is_passed_by_reference(tmp_path: Path) -> None:
    path = tmp_path / "shared.dat"
    shared = np.memmap(path, dtype=np.float64, mode="w+", shape=(1000, 10))
    Parallel(n_jobs=2, max_nbytes=None)(delayed(write_into)(shared[i], 0, i) for i in range(20))
    assert shared[:20, 0].tolist() == list(range(20))  # the workers wrote into the file
    shared[:, 1:3] = 2.0
    view = shared[::10, 1:3]  # strided: mapped from the file, then viewed
    info = Parallel(n_jobs=2)(delayed(describe_array)(view) for _ in range(2))[0]
    assert info["sum"] == float(view.sum()) == 400.0
    loaded = np.load(_saved(tmp_path), mmap_mode="r")
    info = Parallel(n_jobs=2)(delayed(describe_array)(loaded) for _ in range(2))[0]
    assert info["filename"] == str(tmp_path / "saved.npy")
    assert info["sum"] == 300_000.0
    assert sorted(os.listdir(tmp_path)) == ["saved.npy", "shared.dat"]


def _saved(folder: Path) -> Path:
    path = folder / "saved.npy"
    np.save(path, np.ones((300, 1000)))
    return path


def test_returned_memmaps_come_back_as_plain_arrays(backend: str, big: np.ndarray) -> None:
    out = Parallel(n_jobs=2, backend=backend)(delayed(first_rows)(big, 3) for _ in range(2))
    assert type(out[0]) is np.ndarray
    np.testing.assert_array_equal(out[0], big[:3])
    out[0][0, 0] = -1.0  # an ordinary, writable array


def test_many_tasks_reading_one_large_array(big: np.ndarray) -> None:
    out = Parallel(n_jobs=2)(delayed(column_sum)(big, i) for i in range(64))
    assert out == [float(big[:, i].sum()) for i in range(64)]


# -- the temporary folder ----------------------------------------------------------------
def test_folder_is_removed_after_an_error(backend: str, big: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="failed with an array"):
        Parallel(n_jobs=2, backend=backend, temp_folder=str(tmp_path))(
            delayed(fail_with_array)(big) for _ in range(4)
        )
    assert os.listdir(tmp_path) == []


def test_folder_is_removed_after_a_timeout(backend: str, big: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(TimeoutError):
        Parallel(n_jobs=2, backend=backend, temp_folder=str(tmp_path), timeout=0.5)(
            delayed(sleep_with_array)(big, 30) for _ in range(2)
        )
    assert os.listdir(tmp_path) == []


def test_folder_is_removed_after_a_crash(backend: str, big: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(WorkerCrashedError):
        Parallel(n_jobs=2, backend=backend, temp_folder=str(tmp_path))(
            delayed(exit_with_array)(big) for _ in range(2)
        )
    assert os.listdir(tmp_path) == []


def test_folder_is_removed_when_a_generator_is_closed(big: np.ndarray, tmp_path: Path) -> None:
    out = Parallel(n_jobs=2, return_as="generator", temp_folder=str(tmp_path))(
        delayed(sleep_with_array)(big, 0.01) for _ in range(20)
    )
    next(out)
    assert os.listdir(tmp_path) != []
    out.close()
    assert os.listdir(tmp_path) == []


def test_environment_variables_choose_the_folder(
    big: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    joblib_dir, parjob_dir, argument = tmp_path / "joblib", tmp_path / "parjob", tmp_path / "arg"
    monkeypatch.setenv("JOBLIB_TEMP_FOLDER", str(joblib_dir))
    assert _folder_used(big) == joblib_dir
    monkeypatch.setenv("PARJOB_TEMP_FOLDER", str(parjob_dir))
    assert _folder_used(big) == parjob_dir
    assert _folder_used(big, temp_folder=str(argument)) == argument
    with parallel_config(temp_folder=str(argument)):
        assert _folder_used(big) == argument
    for folder in (joblib_dir, parjob_dir, argument):
        assert os.listdir(folder) == []


def _folder_used(array: np.ndarray, **options: str) -> Path:
    info = Parallel(n_jobs=2, **options)(delayed(describe_array)(array) for _ in range(2))[0]
    return Path(info["folder"]).parent


def test_default_folder_is_shared_memory_then_the_temp_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("JOBLIB_TEMP_FOLDER", raising=False)
    monkeypatch.delenv("PARJOB_TEMP_FOLDER", raising=False)
    if os.access("/dev/shm", os.W_OK):
        assert memmap.base_folder(None) == ("/dev/shm", True)
    monkeypatch.setattr(memmap, "SHARED_MEM_FOLDER", str(tmp_path / "missing"))
    assert memmap.base_folder(None) == (tempfile.gettempdir(), False)


# -- a full /dev/shm falls back to the disk --------------------------------------------------
needs_shm = pytest.mark.skipif(not os.access("/dev/shm", os.W_OK), reason="no /dev/shm")


def disk_is_the_fallback(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """No temp folder set by the environment; the system temp folder is ``folder``."""
    monkeypatch.delenv("JOBLIB_TEMP_FOLDER", raising=False)
    monkeypatch.delenv("PARJOB_TEMP_FOLDER", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


@needs_shm
def test_full_shared_memory_falls_back_to_disk(
    big: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_is_the_fallback(monkeypatch, tmp_path)
    monkeypatch.setattr(memmap, "_has_room", lambda folder, nbytes: False)
    info = Parallel(n_jobs=2)(delayed(describe_array)(big) for _ in range(2))[0]
    assert Path(info["folder"]).parent == tmp_path
    assert info["sum"] == float(big.sum())
    assert os.listdir(tmp_path) == []


@needs_shm
def test_shared_memory_filling_up_while_writing_falls_back_to_disk(
    big: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_is_the_fallback(monkeypatch, tmp_path)
    write = memmap._write_array

    def no_space_on_shm(array: np.ndarray, path: str, order: str) -> None:
        if path.startswith("/dev/shm/"):
            with open(path, "wb") as file:
                file.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        write(array, path, order)

    monkeypatch.setattr(memmap, "_write_array", no_space_on_shm)
    store = memmap.ArrayStore(RunSettings())
    try:
        reduced = store.reduce(big)
        assert reduced is not None
        path = reduced[1][0]
        assert Path(path).parent.parent == tmp_path
        assert len(store.folders) == 2  # the shm folder, left empty, and the disk one
        assert all(os.listdir(folder) == [] for folder in store.folders if "/dev/shm" in folder)
        np.testing.assert_array_equal(np.memmap(path, dtype=big.dtype, shape=big.shape), big)
    finally:
        store.close()
    assert store.folders == [] and os.listdir(tmp_path) == []


def test_an_explicit_folder_that_fails_is_an_error(
    big: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(array: np.ndarray, path: str, order: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(memmap, "_write_array", no_space)
    with pytest.raises(Exception, match="No space left"):
        Parallel(n_jobs=2, temp_folder=str(tmp_path))(
            delayed(describe_array)(big) for _ in range(2)
        )
    assert os.listdir(tmp_path) == []


def test_the_store_keeps_no_array_alive(big: np.ndarray) -> None:
    import weakref

    store = memmap.ArrayStore(RunSettings())
    try:
        temporary = big.copy()
        ref = weakref.ref(temporary)
        assert store.reduce(temporary) is not None
        assert store.reduce(temporary) is store.reduce(temporary)
        del temporary
        assert ref() is None
        assert store._memo == {}
    finally:
        store.close()


# -- large results come back through shared memory -------------------------------------------
def _mapped(array: np.ndarray) -> bool:
    """The array's memory is a memory map (not a copy in the process's heap)."""
    import mmap

    base = array.base
    while isinstance(base, np.ndarray | memoryview):
        base = base.obj if isinstance(base, memoryview) else base.base
    return isinstance(base, mmap.mmap)


def _shm_folders() -> list[str]:
    return [name for name in os.listdir("/dev/shm") if name.startswith(f"parjob_{os.getpid()}_")]


@needs_shm
def test_large_results_are_mapped_not_copied(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.delenv("JOBLIB_TEMP_FOLDER", raising=False)
    monkeypatch.delenv("PARJOB_TEMP_FOLDER", raising=False)
    tasks = [
        delayed(make_array)(1024, 256),
        delayed(make_array)(1024, 256, "F"),
        delayed(make_strided)(16384),
    ]
    out = Parallel(n_jobs=2, backend=backend)(tasks)
    np.testing.assert_array_equal(out[0], make_array(1024, 256))
    np.testing.assert_array_equal(out[1], make_array(1024, 256, "F"))
    np.testing.assert_array_equal(out[2], make_strided(16384))
    assert out[1].flags.f_contiguous
    for array in out:
        assert type(array) is np.ndarray and array.flags.writeable
        assert _mapped(array)  # the worker's pages, used in place
        array[0, 0] = -1.0
    assert _shm_folders() == []  # files unlinked on arrival, the folder removed
    again = Parallel(n_jobs=2, backend=backend)(delayed(float)(a[0, 0]) for a in out)
    assert again == [-1.0, -1.0, -1.0]


def test_small_results_and_max_nbytes_none_travel_in_the_pickle(tmp_path: Path) -> None:
    small = Parallel(n_jobs=2)(delayed(make_array)(10, 10) for _ in range(2))[0]
    assert not _mapped(small)
    out = Parallel(n_jobs=2, max_nbytes=None)(delayed(make_array)(1024, 256) for _ in range(2))
    assert not _mapped(out[0])
    out = Parallel(n_jobs=2, temp_folder=str(tmp_path))(
        delayed(make_array)(1024, 256) for _ in range(2)
    )
    assert not _mapped(out[0])  # only shared memory, never a disk folder
    np.testing.assert_array_equal(out[0], make_array(1024, 256))


def test_spill_declines_what_it_cannot_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = np.ones(200_000)
    assert memmap.spill(np.ones(10), str(tmp_path), 1000) is None
    assert memmap.spill(np.array([object()] * 300_000), str(tmp_path), 1000) is None
    assert memmap.spill(big, str(tmp_path / "gone"), 1000) is None
    assert os.listdir(tmp_path) == []
    reduced = memmap.spill(big, str(tmp_path), 1000)
    assert reduced is not None
    loaded = reduced[0](*reduced[1])
    np.testing.assert_array_equal(loaded, big)
    assert os.listdir(tmp_path) == []  # unlinked once mapped
    monkeypatch.setattr(memmap, "_has_room", lambda folder, nbytes: False)
    assert memmap.spill(big, str(tmp_path), 1000) is None


def matrix_square(m: np.matrix) -> tuple[str, np.ndarray]:
    return type(m).__name__, np.asarray(m * m)


def record_field(rec: np.recarray) -> tuple[str, float]:
    return type(rec).__name__, float(rec.a.sum())


def masked_sum(masked: np.ma.MaskedArray) -> tuple[str, float, int]:
    return type(masked).__name__, float(masked.sum()), int(masked.mask.sum())


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix is on purpose
def test_numpy_subclasses_over_max_nbytes_keep_their_type(backend: str) -> None:
    # np.matrix multiplies as matrices, a record array has its fields, a masked array its
    # mask: as a bare memmap they would silently compute something else, or fail
    m = np.matrix(np.arange(4 * 256, dtype=np.float64).reshape(32, 32) % 5)
    rec = np.rec.fromarrays([np.ones(MB), np.zeros(MB)], names="a,b")
    data = np.arange(MB, dtype=np.float64)
    masked = np.ma.MaskedArray(data, mask=data % 2 == 0)
    with parallel_config(backend, n_jobs=2, max_nbytes=1024):
        kind, product = Parallel()(delayed(matrix_square)(m) for _ in range(2))[0]
        assert kind == "matrix" and np.array_equal(product, np.asarray(m * m))
        assert Parallel()(delayed(record_field)(rec) for _ in range(2)) == [("recarray", MB)] * 2
        sums = Parallel()(delayed(masked_sum)(masked) for _ in range(2))
    assert sums == [("MaskedArray", float(masked.sum()), MB // 2)] * 2
