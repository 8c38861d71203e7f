"""parjob-spark issue workloads, side by side with joblibspark on the same local[2] session.

Every case starts a ``local[2]`` SparkSession in its setup (UI off, errors-only logs,
driver on 127.0.0.1) and warms it up with a tiny call, so only the workload is timed.
parjob's column lets parjob start its embedded session (sized to this 2-core machine, the
executors' Python set by parjob); the peer (joblib 1.6 with ``joblibspark.register_spark()``)
and the floor need ``PYSPARK_PYTHON`` set by hand, or their workers would run the system
Python. ``floor`` is one Spark job over pre-batched partitions (two, one per core).
"""

from harness import ARRAY_128MB, DOUBLE, IN_CHUNKS, SPIN, Case, Workload

BY_HAND = (
    """
import os, sys
os.environ["PYSPARK_PYTHON"] = sys.executable  # the peer's workers need it set by hand
from pyspark.sql import SparkSession
from parjob_spark.session import _quiet_local_settings
builder = SparkSession.builder.master("local[2]").appName("bench")
for key, value in _quiet_local_settings(True).items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
spark.sparkContext.setLogLevel("ERROR")
sc = spark.sparkContext
TEARDOWN = "spark.stop()"
"""
    + IN_CHUNKS
)

PARJOB = """
from parjob import Parallel, delayed, parallel_config
from parjob_spark import session
with parallel_config("spark"):
    Parallel(n_jobs=-1)(delayed(abs)(i) for i in range(10))  # warm-up (starts the session)
TEARDOWN = "session.close()"
"""

JOBLIB = """
import joblib
from joblib import Parallel, delayed
from joblibspark import register_spark
register_spark()
with joblib.parallel_config("spark"):
    Parallel(n_jobs=-1)(delayed(abs)(i) for i in range(10))  # warm-up
"""

FLOOR = """
sc.parallelize(in_chunks(range(10), 2), 2).map(lambda c: [abs(i) for i in c]).collect()  # warm-up
"""

TINY = DOUBLE + "N = 1_000\n"

ARRAY = ARRAY_128MB


def _on_spark(parjob: str, joblib: str, floor: str, **extra: Case | str) -> dict[str, Case | str]:
    return {
        "parjob": Case(f'with parallel_config("spark"):\n    {parjob}', PARJOB),
        "joblib": Case(f'with joblib.parallel_config("spark"):\n    {joblib}', BY_HAND + JOBLIB),
        "floor": Case(floor, BY_HAND + FLOOR),
        **extra,
    }


WORKLOADS = [
    Workload(
        name="1,000 tiny tasks, local[2]",
        setup=TINY,
        cases=_on_spark(
            parjob="Parallel(n_jobs=-1)(delayed(double)(i) for i in range(N))",
            joblib="Parallel(n_jobs=-1)(delayed(double)(i) for i in range(N))",
            floor="sc.parallelize(in_chunks(range(N), 2), 2)"
            ".map(lambda c: [double(i) for i in c]).collect()",
        ),
        target="parjob <= 1/40 of joblib (aim: the floor)",
    ),
    Workload(
        name="100 CPU-bound tasks (200k-step loops), local[2]",
        setup=SPIN,
        cases=_on_spark(
            parjob="Parallel(n_jobs=-1)(delayed(spin)(200_000) for _ in range(100))",
            joblib="Parallel(n_jobs=-1)(delayed(spin)(200_000) for _ in range(100))",
            floor="sc.parallelize(in_chunks([200_000] * 100, 2), 2)"
            ".map(lambda c: [spin(n) for n in c]).collect()",
            sequential="[spin(200_000) for _ in range(100)]",
            ideal="[spin(200_000) for _ in range(50)]  # sequential time / 2",
        ),
        target="parjob <= 1/2 of joblib and parjob <= 1.3 x floor",
    ),
    Workload(
        name="one 128 MB array passed to 200 tasks, local[2]",
        setup=ARRAY,
        cases=_on_spark(
            parjob="Parallel(n_jobs=-1)(delayed(take)(X, i) for i in range(200))",
            joblib="Parallel(n_jobs=-1)(delayed(take)(X, i) for i in range(200))",
            floor="data = sc.broadcast(X)\n"
            "sc.parallelize(in_chunks(range(200), 2), 2)"
            ".map(lambda c: [take(data.value, i) for i in c]).collect()",
        ),
        target="parjob <= 1/5 of joblib (joblibspark pickles the array into every task)",
    ),
]
