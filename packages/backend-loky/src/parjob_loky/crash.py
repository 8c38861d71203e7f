"""Which batch a dead worker was running, and how the worker ended.

When a worker dies, the pool fails every pending batch with the same error and the core
reports the first one it sees, which need not be the one that killed the worker. So each
worker records the batch it starts (a token) in its own small file, named by its pid, in a
status folder private to the calling process; when the pool breaks, the backend reads the
files, finds the workers that are gone, and fails their batches first, with their exit code
or signal (see ``ProcessBackend._blame``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading

from parjob import crashes
from parjob.sweep import sweep_once

_TOKEN = 20  # bytes per record: a right-aligned decimal token
_lock = threading.Lock()
_folder: tuple[int, str] | None = None  # (pid that created it, path)
_files: dict[tuple[str, int], int] = {}  # in a worker: (folder, pid) -> open descriptor


def status_folder() -> str:
    """This process's status folder, created on first use and removed at exit."""
    global _folder
    pid = os.getpid()
    if _folder is None or _folder[0] != pid:  # also after a fork
        with _lock:
            if _folder is None or _folder[0] != pid:
                base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
                # the folders of processes killed before their exit handlers ran
                sweep_once(base or tempfile.gettempdir(), "parjob-workers-")
                path = tempfile.mkdtemp(prefix=f"parjob-workers-{pid}-", dir=base)
                atexit.register(shutil.rmtree, path, True)
                _folder = (pid, path)
    return _folder[1]


def mark(folder: str, token: int) -> None:
    """In a worker: record that this process now runs the batch ``token``."""
    key = (folder, os.getpid())
    fd = _files.get(key)
    if fd is None:
        fd = os.open(os.path.join(folder, str(key[1])), os.O_WRONLY | os.O_CREAT, 0o600)
        _files[key] = fd
    data = b"%*d" % (_TOKEN, token)
    if hasattr(os, "pwrite"):
        os.pwrite(fd, data, 0)
    else:  # pragma: no cover - Windows
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)


def last_started() -> dict[int, int]:
    """``{token: pid}``: the batch each worker of this process started last."""
    folder = status_folder()
    found: dict[int, int] = {}
    for name in os.listdir(folder):
        try:
            with open(os.path.join(folder, name), "rb") as file:
                found[int(file.read(_TOKEN))] = int(name)
        except (OSError, ValueError):
            continue
    return found


def is_alive(pid: int) -> bool:
    if os.name != "posix":  # pragma: no cover - signal 0 is only a probe on POSIX
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def forget_dead() -> None:
    """Remove the records of workers that no longer exist."""
    if _folder is None or _folder[0] != os.getpid():
        return
    folder = _folder[1]
    for name in os.listdir(folder):
        if name.isdigit() and not is_alive(int(name)):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))


# how a worker ended, in words: one phrasing for every backend (kept here for importers)
describe_exit = crashes.describe_exit
