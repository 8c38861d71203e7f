"""With no client anywhere, parjob starts its own LocalCluster: on loopback, no dashboard
(nor the worker profiler that feeds it), reused across calls, and gone (every process)
once the interpreter exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import psutil

SCRIPT = textwrap.dedent(
    """
    import json, os
    import dask
    import psutil
    from parjob import Parallel, delayed, parallel_config
    import parjob_dask
    from parjob_dask.cluster import embedded_client

    def where(_):
        return os.getpid()

    def profiling(dask_worker):
        return "profile" in dask_worker.periodic_callbacks

    if __name__ == "__main__":
        with parallel_config("dask"):
            first = Parallel()(delayed(where)(i) for i in range(20))
            n_jobs = Parallel()._effective_n_jobs()
        second = Parallel(backend="dask")(delayed(where)(i) for i in range(20))
        cluster = parjob_dask.embedded_cluster()
        me = psutil.Process()
        processes = [me, *me.children(recursive=True)]
        listening = [
            conn.laddr.ip
            for proc in processes
            for conn in proc.net_connections(kind="inet")
            if conn.status == psutil.CONN_LISTEN
        ]
        print(json.dumps({
            "first": sorted(set(first)),
            "second": sorted(set(second)),
            "n_jobs": n_jobs,
            "workers": len(cluster.scheduler_info["workers"]),
            "children": [proc.pid for proc in processes[1:]],
            "listening": listening,
            "scheduler": cluster.scheduler_address,
            "worker_pids": sorted(embedded_client().run(os.getpid).values()),
            "profiling": sorted(set(embedded_client().run(profiling).values())),
            "caller_profiling": dask.config.get("distributed.worker.profile.enabled"),
        }))
    """
)


def test_embedded_cluster_on_loopback_reused_and_closed_at_exit(tmp_path) -> None:
    script = tmp_path / "embedded.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["scheduler"].startswith("tcp://127.0.0.1:")
    assert report["listening"] and set(report["listening"]) == {"127.0.0.1"}
    assert report["n_jobs"] == report["workers"] >= 1
    # both calls ran on the one embedded cluster (reused, not restarted)
    assert set(report["first"]) | set(report["second"]) <= set(report["worker_pids"])
    assert set(report["worker_pids"]) <= set(report["children"])
    # no statistical profiler in our workers (nothing shows it), and the caller's dask
    # settings are left as they were
    assert report["profiling"] == [False] and report["caller_profiling"] is True
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(pid) for pid in report["children"]):
        assert time.monotonic() < deadline, "cluster processes outlived the interpreter"
        time.sleep(0.1)


LOST = textwrap.dedent(
    """
    import json, os, signal, time
    from parjob import Parallel, delayed
    import parjob_dask

    def where(_):
        return os.getpid()

    if __name__ == "__main__":
        first = Parallel(backend="dask")(delayed(where)(i) for i in range(10))
        cluster = parjob_dask.embedded_cluster()
        size = len(cluster.workers)
        open(os.environ["PARJOB_SLOW_BOOT"], "w").close()  # restarts now outlast the timeout
        for nanny in list(cluster.workers.values()):
            os.kill(nanny.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while cluster.workers and time.monotonic() < deadline:  # LocalCluster gives up on them
            time.sleep(0.05)
        dropped = not cluster.workers
        os.remove(os.environ["PARJOB_SLOW_BOOT"])
        second = Parallel(backend="dask")(delayed(where)(i) for i in range(10))
        print(json.dumps({
            "dropped": dropped,
            "first": sorted(set(first)),
            "second": sorted(set(second)),
            "nannies": len(cluster.workers),
            "spec": len(cluster.worker_spec),
            "size": size,
        }))
    """
)

#: a dask worker preload: a worker started while the flag file exists boots for ten minutes
SLOW_BOOT = textwrap.dedent(
    """
    import os, time

    def dask_setup(worker):
        if os.path.exists(os.environ["PARJOB_SLOW_BOOT"]):
            time.sleep(600)
    """
)


def test_workers_the_cluster_gave_up_on_are_replaced_before_the_next_call(tmp_path) -> None:
    # Both workers die, and their restarts take longer than dask's lost-worker-timeout
    # (1 s here, 15 s by default): LocalCluster closes their nannies for good. Without
    # parjob replacing them, the next call waited for workers that never came.
    script = tmp_path / "lost.py"
    script.write_text(LOST)
    (tmp_path / "slow_boot.py").write_text(SLOW_BOOT)
    env = {
        **os.environ,
        "PARJOB_SLOW_BOOT": str(tmp_path / "slow"),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "DASK_DISTRIBUTED__WORKER__PRELOAD": '["slow_boot"]',
        "DASK_DISTRIBUTED__DEPLOY__LOST_WORKER_TIMEOUT": "1s",
    }
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["dropped"]  # the situation arose: no nanny was left
    assert len(report["second"]) >= 1 and not set(report["second"]) & set(report["first"])
    assert report["nannies"] == report["spec"] == report["size"]  # back to its size
