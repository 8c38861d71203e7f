"""Remove folders left behind by parjob processes that died without cleaning up.

A process removes its own temporary folders at exit, but not when it is killed or leaves
through ``os._exit`` (a pool worker that ran a nested call, a crashed or killed caller).
Folders carry their creator's pid in their name (``parjob-workers-<pid>-...``,
``parjob_<pid>_...``); the first time a process makes one in a base folder, it removes the
ones of the same kind whose creator is gone. Cheap: one directory listing per base.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading

_swept: set[tuple[str, str]] = set()
_lock = threading.Lock()


def sweep_once(base: str, prefix: str) -> list[str]:
    """Remove, once per process, the ``<prefix><pid>...`` folders in ``base`` whose process
    is gone and which belong to this user; returns the paths removed."""
    key = (base, prefix)
    with _lock:
        if key in _swept:
            return []
        _swept.add(key)
    return sweep(base, prefix)


def sweep(base: str, prefix: str) -> list[str]:
    """Remove the ``<prefix><pid>...`` folders in ``base`` whose process is gone."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)[-_]")
    removed = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    uid = os.getuid() if hasattr(os, "getuid") else None
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or not _is_gone(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            if not entry.is_dir(follow_symlinks=False):
                continue
            if uid is not None and entry.stat(follow_symlinks=False).st_uid != uid:
                continue
            shutil.rmtree(entry.path)
            removed.append(entry.path)
    return removed


def _is_gone(pid: int) -> bool:
    if os.name != "posix" or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False
