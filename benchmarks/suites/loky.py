"""parjob-loky issue workloads, side by side with joblib's loky backend, on 2 workers.

Unless the workload is about start-up, every case starts its pool in its setup (a warm-up
call that waits for both workers), so only the workload is timed. ``floor`` is the same work
handed straight to a process pool in a few large chunks. Functions defined in a setup are also set on the real
``__main__`` module, so that ``multiprocessing.Pool`` (which pickles them by name) finds
them in its forked workers.
"""

from harness import DOUBLE, SPIN, Case, Workload

EXPOSE = """
import sys as _sys
for _name in ("double", "spin", "column", "blob"):
    if _name in globals():
        setattr(_sys.modules["__main__"], _name, globals()[_name])
"""

TINY = DOUBLE + "N = 100_000\n"

ARRAY = """
import numpy as np
X = np.random.default_rng(0).random((65536, 256))  # 128 MiB of float64
def column(x, i):
    return float(x[:, i].sum())
"""

BLOBS = """
import time
import numpy as np
def blob(i):
    return np.full(512 * 1024, i, dtype=np.float64)  # 4 MiB
def CONSUME(result):  # slowly, and reading the whole result (so its pages count)
    assert float(result.sum()) == result[0] * result.size
    time.sleep(0.005)
"""

# warm-up: start the pool and wait until both workers answer (a tiny call can return while
# the second worker is still booting, which would then be timed as part of the workload)
WARM_POOL = """
import os as _os, time as _time
def _pid_after(seconds):
    _time.sleep(seconds)
    return _os.getpid()
while len(set(Parallel(n_jobs=2, batch_size=1)(delayed(_pid_after)(0.05) for _ in range(2)))) < 2:
    pass
"""

PARJOB = "from parjob import Parallel, delayed\n" + WARM_POOL

JOBLIB = "from joblib import Parallel, delayed\n" + WARM_POOL

POOL = (
    EXPOSE
    + """
import multiprocessing
pool = multiprocessing.Pool(2)
pool.map(abs, range(10))  # warm-up
TEARDOWN = "pool.terminate()"
"""
)

# workers unpickle a first small array, so numpy's import there is not timed
WARM_NUMPY_PARJOB = "Parallel(n_jobs=2)(delayed(np.sum)(np.ones(10)) for _ in range(4))\n"
WARM_NUMPY_JOBLIB = WARM_NUMPY_PARJOB
WARM_NUMPY_POOL = "pool.map(np.sum, [np.ones(10)] * 4)\n"


WORKLOADS = [
    Workload(
        name="100k tiny tasks, n_jobs=2",
        setup=TINY,
        cases={
            "parjob": Case("Parallel(n_jobs=2)(delayed(double)(i) for i in range(N))", PARJOB),
            "joblib": Case("Parallel(n_jobs=2)(delayed(double)(i) for i in range(N))", JOBLIB),
            "floor": Case("pool.map(double, range(N), chunksize=N // 8)", POOL),
        },
        target="parjob <= 1/5 of joblib",
    ),
    Workload(
        name="200 CPU-bound tasks (200k-step loops), n_jobs=2",
        setup=SPIN,
        cases={
            "parjob": Case(
                "Parallel(n_jobs=2)(delayed(spin)(200_000) for _ in range(200))", PARJOB
            ),
            "joblib": Case(
                "Parallel(n_jobs=2)(delayed(spin)(200_000) for _ in range(200))", JOBLIB
            ),
            "floor": Case("pool.map(spin, [200_000] * 200, chunksize=25)", POOL),
            "sequential": "[spin(200_000) for _ in range(200)]",
        },
        target="parjob <= sequential / 1.8 (0.56 x) and parjob <= joblib",
    ),
    Workload(
        name="200 tasks reading one column of one 128 MB array, n_jobs=2",
        setup=ARRAY,
        cases={
            "parjob": Case(
                "Parallel(n_jobs=2)(delayed(column)(X, i) for i in range(200))",
                PARJOB + WARM_NUMPY_PARJOB,
            ),
            "joblib": Case(
                "Parallel(n_jobs=2)(delayed(column)(X, i) for i in range(200))",
                JOBLIB + WARM_NUMPY_JOBLIB,
            ),
            "pool_pickled": Case(
                "pool.starmap(column, [(X, i) for i in range(200)], chunksize=1)",
                POOL + WARM_NUMPY_POOL,
            ),
        },
        target="parjob <= joblib and parjob <= 1/5 of pool_pickled (the array pickled per task)",
    ),
    Workload(
        name="first call in a fresh interpreter (pool start), n_jobs=2",
        setup=TINY,
        cases={
            "parjob": Case(
                "Parallel(n_jobs=2)(delayed(double)(i) for i in range(10))",
                "from parjob import Parallel, delayed",
            ),
            "joblib": Case(
                "Parallel(n_jobs=2)(delayed(double)(i) for i in range(10))",
                "from joblib import Parallel, delayed",
            ),
            "floor": Case(
                "list(get_reusable_executor(max_workers=2).map(double, range(10)))",
                "from loky import get_reusable_executor",
            ),
        },
        target="parjob <= joblib",
    ),
    Workload(
        name='return_as="generator", 400 tasks of 4 MB results consumed slowly (peak MiB)',
        setup=BLOBS,
        metric="peak_mb",
        cases={
            "parjob": Case(
                "for r in Parallel(n_jobs=2, return_as='generator')(\n"
                "        delayed(blob)(i) for i in range(400)):\n"
                "    CONSUME(r)",
                PARJOB + WARM_NUMPY_PARJOB,
            ),
            "joblib": Case(
                "for r in Parallel(n_jobs=2, return_as='generator')(\n"
                "        delayed(blob)(i) for i in range(400)):\n"
                "    CONSUME(r)",
                JOBLIB + WARM_NUMPY_JOBLIB,
            ),
            "pool_imap": Case(
                "for r in pool.imap(blob, range(400)):\n    CONSUME(r)",
                POOL + WARM_NUMPY_POOL,
            ),
        },
        target="parjob <= joblib and parjob <= 1.5 x pool_imap",
    ),
]
