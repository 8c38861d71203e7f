"""scikit-learn through parjob-joblib: GridSearchCV under parjob's ``parallel_config``,
side by side with joblib on the same engine (plain loky, joblib's dask backend,
``ray.util.joblib``, joblibspark).

The search: SVC on 1,200 digits, 4 values of C x 3 of gamma x 3 folds = 36 fits (a few tens
of milliseconds each), ``n_jobs=-1``, no refit. Every case starts its engine in its setup
(the same clusters as the dask, ray and spark suites) and runs a 4-fit search under its own
configuration first, so workers are up and have imported scikit-learn: only the search is
timed. ``sequential`` is the same search with ``n_jobs=1``.
"""

from harness import Case, Workload
from suites import dask as dask_suite
from suites import ray as ray_suite
from suites import spark as spark_suite

SEARCH = """
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC
X, y = load_digits(return_X_y=True)
X, y = X[:1200], y[:1200]
GRID = {"C": [0.1, 1.0, 10.0, 100.0], "gamma": [1e-4, 1e-3, 1e-2]}
def search(n_jobs=-1):
    return GridSearchCV(SVC(), GRID, cv=3, refit=False, n_jobs=n_jobs).fit(X, y)
def warm_up():
    GridSearchCV(SVC(), {"C": [1.0, 10.0]}, cv=2, refit=False, n_jobs=-1).fit(X, y)
"""

TIMED = "search()"


def _parjob(backend: str, engine: str = "") -> Case:
    setup = (
        engine
        + "from parjob import parallel_config\n"
        + f'with parallel_config("{backend}"):\n    warm_up()\n'
    )
    if backend == "spark":
        setup += 'from parjob_spark import session\nTEARDOWN = "session.close()"\n'
    return Case(f'with parallel_config("{backend}"):\n    {TIMED}', setup)


def _joblib(backend: str, engine: str = "", register: str = "") -> Case:
    setup = engine + "import joblib\n" + register
    setup += f'with joblib.parallel_config("{backend}"):\n    warm_up()\n'
    return Case(f'with joblib.parallel_config("{backend}"):\n    {TIMED}', setup)


WORKLOADS = [
    Workload(
        name="GridSearchCV, 36 SVC fits, loky n_jobs=-1 (2 cores)",
        setup=SEARCH,
        cases={
            "parjob": _parjob("loky"),
            "joblib": _joblib("loky"),
            "sequential": Case("search(n_jobs=1)"),
        },
        target="parjob <= joblib (plain joblib, loky)",
    ),
    Workload(
        name="GridSearchCV, 36 SVC fits, 2-worker LocalCluster",
        setup=SEARCH,
        cases={
            "parjob": _parjob("dask", dask_suite.CLUSTER),
            "joblib": _joblib("dask", dask_suite.CLUSTER),
        },
        target="parjob <= joblib (joblib's dask backend)",
    ),
    Workload(
        name="GridSearchCV, 36 SVC fits, local Ray (2 CPUs)",
        setup=SEARCH,
        cases={
            "parjob": _parjob("ray", ray_suite.RAY),
            "joblib": _joblib(
                "ray",
                ray_suite.RAY,
                "from ray.util.joblib import register_ray\nregister_ray()\n",
            ),
        },
        target="parjob <= joblib (ray.util.joblib)",
    ),
    Workload(
        name="GridSearchCV, 36 SVC fits, local[2]",
        setup=SEARCH,
        cases={
            "parjob": _parjob("spark"),
            "joblib": _joblib(
                "spark",
                spark_suite.BY_HAND,
                "from joblibspark import register_spark\nregister_spark()\n",
            ),
        },
        target="parjob <= joblib (joblibspark)",
    ),
]
