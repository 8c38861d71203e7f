"""parjob-ray issue workloads, side by side with ``ray.util.joblib`` on the same local Ray.

Every case but the first-call ones starts the same local Ray (2 CPUs, no dashboard,
loopback) in its setup and warms it up with a tiny call, so only the workload itself is
timed. ``floor`` is the same work handed straight to Ray as a few tasks over pre-batched
chunks. The first-call workload times parjob's first call, which starts its embedded Ray,
next to ``ray.init()`` alone and ``ray.init()`` plus one task.

Ray's own environment settings, as parjob's embedded Ray uses them, apply to every case
(the benchmark runs under ``uv run``, whose environment Ray would otherwise rebuild for
its workers): loopback addresses, no usage report, workers on this interpreter.
"""

from harness import ARRAY_128MB, DOUBLE, IN_CHUNKS, SPIN, Case, Workload

ENVIRONMENT = """
import os
os.environ.update({
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
})
"""

RAY = (
    ENVIRONMENT
    + """
import logging
import ray
ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR,
         _node_ip_address="127.0.0.1")
ray.get([ray.remote(lambda i: i).remote(i) for i in range(4)])  # both workers started
TEARDOWN = "ray.shutdown()"

@ray.remote
def run_chunk(func, chunk, *shared):
    return [func(*shared, x) for x in chunk]
"""
    + IN_CHUNKS
)

PARJOB = """
from parjob import Parallel, delayed, parallel_config
with parallel_config("ray"):
    Parallel(n_jobs=-1)(delayed(abs)(i) for i in range(10))  # warm-up
"""

JOBLIB = """
import joblib
from joblib import Parallel, delayed
from ray.util.joblib import register_ray
register_ray()
with joblib.parallel_config("ray"):
    Parallel(n_jobs=-1)(delayed(abs)(i) for i in range(10))  # warm-up
"""

TINY = DOUBLE + "N = 10_000\n"

ARRAY = ARRAY_128MB

# workers deserialize a first small array, so numpy's import there is not timed
WARM_NUMPY = """
ray.get([ray.remote(lambda a: float(a.sum())).remote(np.ones(10)) for _ in range(2)])
"""


def _on_ray(
    parjob: str, joblib: str, floor: str, warm: str = "", **extra: Case | str
) -> dict[str, Case | str]:
    return {
        "parjob": Case(f'with parallel_config("ray"):\n    {parjob}', RAY + warm + PARJOB),
        "joblib": Case(f'with joblib.parallel_config("ray"):\n    {joblib}', RAY + warm + JOBLIB),
        "floor": Case(floor, RAY + warm),
        **extra,
    }


FIRST_CALL = """
from parjob import Parallel, delayed
import parjob_ray
TEARDOWN = "parjob_ray.close()"
"""

RAY_ALONE = (
    ENVIRONMENT
    + """
import logging
import ray
TEARDOWN = "ray.shutdown()"
"""
)

INIT = (
    "ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR,"
    ' _node_ip_address="127.0.0.1")'
)

WORKLOADS = [
    Workload(
        name="10k tiny tasks, local Ray (2 CPUs)",
        setup=TINY,
        cases=_on_ray(
            parjob="Parallel(n_jobs=-1)(delayed(double)(i) for i in range(N))",
            joblib="Parallel(n_jobs=-1)(delayed(double)(i) for i in range(N))",
            floor="ray.get([run_chunk.remote(double, c) for c in in_chunks(range(N))])",
        ),
        target="parjob <= 1/10 of joblib (aim: the floor)",
    ),
    Workload(
        name="100 CPU-bound tasks (200k-step loops), local Ray (2 CPUs)",
        setup=SPIN,
        cases=_on_ray(
            parjob="Parallel(n_jobs=-1)(delayed(spin)(200_000) for _ in range(100))",
            joblib="Parallel(n_jobs=-1)(delayed(spin)(200_000) for _ in range(100))",
            floor="ray.get([run_chunk.remote(spin, c) for c in in_chunks([200_000] * 100)])",
            sequential="[spin(200_000) for _ in range(100)]",
            ideal="[spin(200_000) for _ in range(50)]  # sequential time / 2",
        ),
        target="parjob <= joblib and parjob <= 1.3 x ideal (sequential / 2)",
    ),
    Workload(
        name="one 128 MB array passed to 200 tasks, local Ray (2 CPUs)",
        setup=ARRAY,
        cases=_on_ray(
            parjob="Parallel(n_jobs=-1)(delayed(take)(X, i) for i in range(200))",
            joblib="Parallel(n_jobs=-1)(delayed(take)(X, i) for i in range(200))",
            floor="data = ray.put(X)\n"
            "ray.get([run_chunk.remote(take, c, data) for c in in_chunks(range(200))])",
            warm=WARM_NUMPY,
        ),
        target="parjob <= 1/3 of joblib",
    ),
    Workload(
        name="first call, starting the embedded Ray (10 tiny tasks)",
        setup=DOUBLE,
        cases={
            "parjob": Case(
                'Parallel(backend="ray")(delayed(double)(i) for i in range(10))', FIRST_CALL
            ),
            "ray.init": Case(INIT, RAY_ALONE),
            "ray.init + 1 task": Case(INIT + "\nray.get(ray.remote(double).remote(1))", RAY_ALONE),
        },
        target="report: parjob's first call next to ray.init() alone",
    ),
]
