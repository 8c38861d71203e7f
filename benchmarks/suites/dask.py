"""parjob-dask issue workloads, side by side with joblib's dask backend on the same cluster.

Every case starts the same 2-worker x 1-thread LocalCluster (loopback, no dashboard) in its
setup and warms it up with a tiny call, so only the workload itself is timed. ``floor`` is
the same work handed straight to dask in a few large batches (``client.map`` over chunks).

After the warm-up every case waits 0.1 s: the client sends its messages to the scheduler
in batches at most every 10 ms, so a call made right after the warm-up's futures were
released would wait for that window (and share the cores with the clean-up) in every
column alike. The pause keeps that tail of the setup out of the timed workload.
"""

from harness import ARRAY_128MB, DOUBLE, IN_CHUNKS, SPIN, Case, Workload

CLUSTER = (
    """
import logging
from distributed import Client, LocalCluster
cluster = LocalCluster(
    n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
    dashboard_address=None, worker_dashboard_address=None,
    scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    silence_logs=logging.ERROR,
)
client = Client(cluster)
client.wait_for_workers(2)
client.submit(int, 0, pure=False).result()
TEARDOWN = "client.close()\\ncluster.close()"
"""
    + IN_CHUNKS
)

PARJOB = """
from parjob import Parallel, delayed, parallel_config
with parallel_config("dask"):
    Parallel(n_jobs=-1)(delayed(abs)(i) for i in range(10))  # warm-up
"""

JOBLIB = """
import joblib
from joblib import Parallel, delayed
with joblib.parallel_config("dask"):
    Parallel(n_jobs=-1)(delayed(abs)(i) for i in range(10))  # warm-up
"""

TINY = DOUBLE + "N = 10_000\n"

ARRAY = ARRAY_128MB


SETTLE = """
import time
time.sleep(0.1)  # the warm-up's release messages go out before the timed call
"""

# workers deserialize a first small array, so numpy's import there is not timed
WARM_NUMPY = """
client.gather(client.map(lambda a: float(a.sum()), [np.ones(10)] * 2, pure=False))
"""


def _on_dask(
    parjob: str, joblib: str, floor: str, warm: str = "", **extra: Case | str
) -> dict[str, Case | str]:
    return {
        "parjob": Case(
            f'with parallel_config("dask"):\n    {parjob}', CLUSTER + warm + PARJOB + SETTLE
        ),
        "joblib": Case(
            f'with joblib.parallel_config("dask"):\n    {joblib}', CLUSTER + warm + JOBLIB + SETTLE
        ),
        "floor": Case(floor, CLUSTER + warm + SETTLE),
        **extra,
    }


WORKLOADS = [
    Workload(
        name="10k tiny tasks, 2-worker LocalCluster",
        setup=TINY,
        cases=_on_dask(
            parjob="Parallel(n_jobs=-1)(delayed(double)(i) for i in range(N))",
            joblib="Parallel(n_jobs=-1)(delayed(double)(i) for i in range(N))",
            floor="client.gather(client.map(lambda c: [double(i) for i in c],"
            " in_chunks(range(N)), pure=False))",
        ),
        target="parjob <= 1/2 of joblib",
    ),
    Workload(
        name="100 CPU-bound tasks (200k-step loops), 2-worker LocalCluster",
        setup=SPIN,
        cases=_on_dask(
            parjob="Parallel(n_jobs=-1)(delayed(spin)(200_000) for _ in range(100))",
            joblib="Parallel(n_jobs=-1)(delayed(spin)(200_000) for _ in range(100))",
            floor="client.gather(client.map(lambda c: [spin(n) for n in c],"
            " in_chunks([200_000] * 100), pure=False))",
            sequential="[spin(200_000) for _ in range(100)]",
            ideal="[spin(200_000) for _ in range(50)]  # sequential time / 2",
        ),
        target="parjob <= joblib and parjob <= 1.3 x ideal (sequential / 2)",
    ),
    Workload(
        name="one 128 MB array passed to 200 tasks, 2-worker LocalCluster",
        setup=ARRAY,
        cases=_on_dask(
            parjob="Parallel(n_jobs=-1)(delayed(take)(X, i) for i in range(200))",
            joblib="Parallel(n_jobs=-1)(delayed(take)(X, i) for i in range(200))",
            floor="data = client.scatter(X, hash=False)\n"
            "client.gather(client.map(lambda x, c: [take(x, i) for i in c],"
            " [data] * 4, in_chunks(range(200)), pure=False))",
            warm=WARM_NUMPY,
        ),
        target="parjob <= 1/3 of joblib (joblib without scatter)",
    ),
]
