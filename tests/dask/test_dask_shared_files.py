"""Large arrays reach the workers as memory maps only when the workers read this machine's
files: a LocalCluster object, or workers that read back a probe file. A worker on a
loopback address in its own mount namespace (a container with host networking) gets the
arrays scattered instead (issue 16, item 6)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dask_tasks as t
import pytest
from dask_helpers import workerless_cluster
from distributed import Client, LocalCluster

from parjob import Parallel, delayed
from parjob_dask import sharing

np = pytest.importorskip("numpy")


def test_workers_that_read_the_probe_get_memory_maps(dask_cluster: LocalCluster) -> None:
    # a client to the address, not to the LocalCluster object: only the probe can tell
    with Client(dask_cluster.scheduler_address, set_as_default=False) as client:
        assert client.cluster is None
        assert sharing.shares_files(client, None)
        big = np.ones(2**18)
        out = Parallel(backend="dask", client=client, batch_size=1)(
            delayed(t.array_kind)(big) for _ in range(4)
        )
        assert {kind for kind, _, _ in out} == {"memmap"}


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def namespaced_worker() -> Iterator[str]:
    """A scheduler, and one worker on 127.0.0.1 in its own mount namespace, with private
    /dev/shm and /tmp: it shares this machine's network, not its files."""
    if not _unshare_works():
        pytest.skip("needs unshare (mount namespaces)")
    scheduler = workerless_cluster()
    tests = str(Path(t.__file__).parent)
    # a private /tmp too, unless this checkout or its interpreter lives there (a CI clone)
    # and would vanish for the worker
    used = (sys.executable, sys.prefix, tests)
    hide_tmp = not any(os.path.realpath(path).startswith("/tmp/") for path in used)
    mounts = "mount -t tmpfs tmpfs /dev/shm" + (" && mount -t tmpfs tmpfs /tmp" if hide_tmp else "")
    shell = (
        f'{mounts} && exec "$0" -m distributed.cli.dask_worker "$1" --nthreads 1 --no-nanny '
        "--no-dashboard --host 127.0.0.1"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests, *sys.path])}
    worker = subprocess.Popen(
        ["unshare", "-rm", "sh", "-c", shell, sys.executable, scheduler.scheduler_address],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield scheduler.scheduler_address
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        scheduler.close()


def test_a_loopback_worker_that_cannot_read_the_files_gets_scattered_arrays(
    namespaced_worker: str,
) -> None:
    with Client(namespaced_worker, set_as_default=False) as client:
        client.wait_for_workers(1, timeout=60)
        (address,) = client.nthreads()
        assert address.startswith("tcp://127.0.0.1:")
        assert not sharing.shares_files(client, None)
        big = np.ones(2**18)
        started = time.monotonic()
        out = Parallel(backend="dask", client=client, batch_size=1)(
            delayed(t.array_kind)(big) for _ in range(3)
        )
        assert {kind for kind, _, _ in out} == {"ndarray"}  # scattered, not mapped
        assert time.monotonic() - started < 120  # finished (a crash retries until it fails)
