"""Issue 22, ``max_tasks_per_worker=``: what replacing workers costs on loky, 2 workers.

``no option`` is the same call without it. On tiny tasks the cost is the replacements
themselves (one fork per worker per N tasks, from the fork server); on tasks of a
millisecond it should not show. No joblib column: joblib has no such option.
"""

from harness import DOUBLE, Case, Workload

SETUP = """
import time
from parjob import Parallel, delayed
Parallel(n_jobs=2, backend="loky")(delayed(double)(i) for i in range(1000))
def nap(x):
    time.sleep(0.001)
    return x
"""


def _cases(total: int, task: str, limits: tuple[int, ...]) -> dict[str, Case | str]:
    call = (
        f"Parallel(n_jobs=2, backend='loky'{{extra}})(delayed({task})(i) for i in range({total}))"
    )
    cases: dict[str, Case | str] = {
        "parjob": Case(call.format(extra=f", max_tasks_per_worker={limits[0]}"), SETUP)
    }
    for limit in limits[1:]:
        cases[f"N={limit}"] = Case(call.format(extra=f", max_tasks_per_worker={limit}"), SETUP)
    cases["no option"] = Case(call.format(extra=""), SETUP)
    return cases


WORKLOADS = [
    Workload(
        name="10k tiny tasks, loky, n_jobs=2, max_tasks_per_worker=1000",
        setup=DOUBLE,
        cases=_cases(10_000, "double", (1000, 100)),
        target="replacements cost a fork each: about 10 per worker here",
    ),
    Workload(
        name="100k tiny tasks, loky, n_jobs=2, max_tasks_per_worker=1000",
        setup=DOUBLE,
        cases=_cases(100_000, "double", (1000, 10_000)),
        target="about 50 replacements per worker",
    ),
    Workload(
        name="2,000 tasks of 1 ms, loky, n_jobs=2, max_tasks_per_worker=100",
        setup=DOUBLE,
        cases=_cases(2_000, "nap", (100,)),
        target="parjob <= 1.2 x no option",
    ),
]
