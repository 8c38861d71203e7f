"""With no client anywhere, parjob starts its own LocalCluster: on loopback, no dashboard
(nor the worker profiler that feeds it), reused across calls, and gone (every process)
once the interpreter exits."""

from __future__ import annotations

import json
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
