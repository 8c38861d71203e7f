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


def _on(where: str, backend: str, engine: str, peer: str, register: str = "") -> Workload:
    """The search under parjob's and joblib's config for ``backend`` on the same engine."""
    parjob_engine = "" if backend == "spark" else engine  # parjob starts its own session
    return Workload(
        name=f"GridSearchCV, 36 SVC fits, {where}",
        setup=SEARCH,
        cases={
            "parjob": _parjob(backend, parjob_engine),
            "joblib": _joblib(backend, engine, register),
        },
        target=f"parjob <= joblib ({peer})",
    )


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
    _on("2-worker LocalCluster", "dask", dask_suite.CLUSTER, "joblib's dask backend"),
    _on(
        "local Ray (2 CPUs)",
        "ray",
        ray_suite.RAY,
        "ray.util.joblib",
        "from ray.util.joblib import register_ray\nregister_ray()\n",
    ),
    _on(
        "local[2]",
        "spark",
        spark_suite.BY_HAND,
        "joblibspark",
        "from joblibspark import register_spark\nregister_spark()\n",
    ),
]
