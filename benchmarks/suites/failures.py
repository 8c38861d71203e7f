"""Issue 21 workloads: 10,000 tiny tasks of which 1% fail, collected, on loky and dask.

``parjob`` runs them with ``on_error="collect"``; ``no failures`` is the same call on the
same number of tasks that all succeed (the issue's target: collect within 1.2x of it), and
``default`` that call without ``on_error`` (raise-at-once, the fastest path);
``joblib`` is joblib's nearest equivalent, each task wrapped in a try/except that returns
the exception (joblib has no collect mode). Pools and clusters are started and warmed up
in each case's setup, as in the loky and dask suites.
"""

from harness import Case, Workload
from suites.dask import CLUSTER, SETTLE
from suites.dask import JOBLIB as DASK_JOBLIB
from suites.dask import PARJOB as DASK_PARJOB
from suites.loky import EXPOSE
from suites.loky import JOBLIB as LOKY_JOBLIB
from suites.loky import PARJOB as LOKY_PARJOB

FLAKY = """
def flaky(x):
    if x % 100 == 7:
        raise ValueError(f"bad value {x}")
    return x * 2

def guarded(x):  # joblib's way: catch in the task, return the exception
    try:
        return flaky(x)
    except Exception as exc:
        return exc

N = 10_000
""" + EXPOSE.replace('("double", "spin", "column", "blob")', '("flaky", "guarded")')

COLLECT = "Parallel(n_jobs={n}, on_error='collect')(delayed(flaky)(i) for i in range(N))"
CLEAN = "Parallel(n_jobs={n}, on_error='collect')(delayed(flaky)(i * 100) for i in range(N))"
DEFAULT = "Parallel(n_jobs={n})(delayed(flaky)(i * 100) for i in range(N))"
GUARDED = "Parallel(n_jobs={n})(delayed(guarded)(i) for i in range(N))"


def _loky() -> dict[str, Case | str]:
    return {
        "parjob": Case(COLLECT.format(n=2), LOKY_PARJOB),
        "no failures": Case(CLEAN.format(n=2), LOKY_PARJOB),
        "default": Case(DEFAULT.format(n=2), LOKY_PARJOB),
        "joblib": Case(GUARDED.format(n=2), LOKY_JOBLIB),
    }


def _dask() -> dict[str, Case | str]:
    parjob_setup = CLUSTER + DASK_PARJOB + SETTLE
    joblib_setup = CLUSTER + DASK_JOBLIB + SETTLE
    return {
        "parjob": Case('with parallel_config("dask"):\n    ' + COLLECT.format(n=-1), parjob_setup),
        "no failures": Case(
            'with parallel_config("dask"):\n    ' + CLEAN.format(n=-1), parjob_setup
        ),
        "default": Case('with parallel_config("dask"):\n    ' + DEFAULT.format(n=-1), parjob_setup),
        "joblib": Case(
            'with joblib.parallel_config("dask"):\n    ' + GUARDED.format(n=-1), joblib_setup
        ),
    }


WORKLOADS = [
    Workload(
        name="10k tiny tasks, 1% failing, on_error='collect', loky n_jobs=2",
        setup=FLAKY,
        cases=_loky(),
        target="parjob <= 1.2 x no failures",
    ),
    Workload(
        name="10k tiny tasks, 1% failing, on_error='collect', 2-worker LocalCluster",
        setup=FLAKY,
        cases=_dask(),
        target="parjob <= 1.2 x no failures",
    ),
]
