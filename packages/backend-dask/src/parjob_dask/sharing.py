"""Whether the workers read this machine's files, so large arrays can reach them as memory maps.

A loopback address is no proof: a worker in its own mount namespace (a container with host
networking, a single-node cluster behind an SSH tunnel) listens on 127.0.0.1 yet sees other
files. So the workers are trusted only when they belong to a ``LocalCluster`` object of this
process, or when every one of them reads back a probe file written where the arrays would
go. The answer is kept per client, folder and set of workers (a new worker is probed).
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
import weakref
from typing import TYPE_CHECKING

from parjob.memmap import base_folder
from parjob_dask.cluster import isolated

if TYPE_CHECKING:
    from distributed import Client

_known: weakref.WeakKeyDictionary[Client, dict[tuple[str, frozenset[str]], bool]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def folders(temp_folder: str | None) -> list[str]:
    """Where parjob's array store may write for ``temp_folder``: its choice, and the disk
    folder it falls back to when ``/dev/shm`` fills up."""
    base, shared = base_folder(temp_folder)
    return [base, tempfile.gettempdir()] if shared else [base]


def shares_files(client: Client, temp_folder: str | None) -> bool:
    """Whether every worker of ``client`` reads the files parjob writes for ``temp_folder``."""
    from distributed import LocalCluster

    if isinstance(getattr(client, "cluster", None), LocalCluster):
        return True
    workers = frozenset(isolated(client.nthreads))
    if not workers:
        return False
    return all(_shared(client, folder, workers) for folder in folders(temp_folder))


def _shared(client: Client, folder: str, workers: frozenset[str]) -> bool:
    key = (folder, workers)
    with _lock:
        known = _known.setdefault(client, {}).get(key)
    if known is None:
        known = probe(client, folder)
        with _lock:
            _known[client][key] = known
    return known


def probe(client: Client, folder: str) -> bool:
    """Write a file with a random token in ``folder``; True if every worker reads it back."""
    token = uuid.uuid4().hex
    try:
        os.makedirs(folder, exist_ok=True)
        descriptor, path = tempfile.mkstemp(prefix="parjob-probe-", dir=folder)
    except OSError:
        return False
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(token)
        answers = isolated(client.run, read_token, path, on_error="return")
    finally:
        os.unlink(path)
    return bool(answers) and all(answer == token for answer in answers.values())


def read_token(path: str) -> str | None:
    """Run on each worker: the probe file's content, or None when this worker cannot read it."""
    try:
        with open(path) as file:
            return file.read()
    except OSError:
        return None
