"""Issue 22 workloads: what reaching the workers costs (seed=, the context snapshot), kept
thread workers, and a nested numpy case under one CPU budget.

``no options`` is the same parjob call without ``seed=`` and with no context variable set:
the target is that carrying them costs at most 10% more.
"""

from harness import DOUBLE, Case, Workload

TINY = DOUBLE + "N = 100_000\n"

#: a context variable set in the caller (module-level in an importable module, as a
#: library keeps one), so every call carries a context snapshot
WITH_CONTEXT = """
from parjob import Parallel, delayed
from parjob.testing_context import REQUEST
REQUEST.set("caller")
"""

WARM_LOKY = """
Parallel(n_jobs=2, backend="loky")(delayed(double)(i) for i in range(1000))
"""

MATMUL = """
import numpy as np
A = np.random.default_rng(0).random((600, 600))
def products(k):
    x = A
    for _ in range(6):
        x = x @ A
        x /= np.abs(x).max()
    return float(x.sum())
"""


#: each outer task runs a nested Parallel(n_jobs=-1) of matrix products
NESTED = """
def inner(k):
    return sum(Parallel(n_jobs=-1)(delayed(products)(k * 4 + j) for j in range(4)))
"""


def _matmul_pair(outer: str) -> dict[str, Case | str]:
    """parjob and joblib running ``outer`` (a call over k in range(4 or 16)), warmed."""
    warm = outer.replace("range(16)", "range(2)").replace("range(4)", "range(2)")
    return {
        "parjob": Case(outer, "from parjob import Parallel, delayed\n" + NESTED + warm),
        "joblib": Case(outer, "from joblib import Parallel, delayed\n" + NESTED + warm),
    }


def _pair(backend: str, warm: str) -> dict[str, Case | str]:
    call = f"Parallel(n_jobs=2, backend={backend!r}{{extra}})(delayed(double)(i) for i in range(N))"
    return {
        "parjob": Case(call.format(extra=", seed=0"), WITH_CONTEXT + warm),
        "no options": Case(call.format(extra=""), "from parjob import Parallel, delayed\n" + warm),
    }


WORKLOADS = [
    Workload(
        name="100k tiny tasks, threading, n_jobs=2, seed= and a context variable",
        setup=TINY,
        cases=_pair("threading", ""),
        target="parjob <= 1.1 x no options",
    ),
    Workload(
        name="100k tiny tasks, loky, n_jobs=2, seed= and a context variable",
        setup=TINY,
        cases=_pair("loky", WARM_LOKY),
        target="parjob <= 1.1 x no options",
    ),
    Workload(
        name="nested: 2 outer workers, each 8 chains of 600x600 matrix products",
        setup=MATMUL,
        cases={
            "parjob": Case(
                "Parallel(n_jobs=2)(delayed(products)(k) for k in range(16))",
                "from parjob import Parallel, delayed\n"
                "Parallel(n_jobs=2)(delayed(products)(k) for k in range(2))",
            ),
            "joblib": Case(
                "Parallel(n_jobs=2)(delayed(products)(k) for k in range(16))",
                "from joblib import Parallel, delayed\n"
                "Parallel(n_jobs=2)(delayed(products)(k) for k in range(2))",
            ),
            "sequential": "[products(k) for k in range(16)]",
        },
        target="parjob <= joblib",
    ),
    Workload(
        name="nested, threading: 2 outer threads, each 8 chains of 600x600 matrix products",
        setup=MATMUL,
        cases={
            **_matmul_pair(
                "Parallel(n_jobs=2, backend='threading')(delayed(products)(k) for k in range(16))"
            ),
            "sequential": "[products(k) for k in range(16)]",
        },
        target="parjob <= joblib",
    ),
    Workload(
        name="nested Parallel(n_jobs=-1) in each of 2 outer workers, 4 x 4 chains of products",
        setup=MATMUL,
        cases={
            **_matmul_pair("Parallel(n_jobs=2)(delayed(inner)(k) for k in range(4))"),
            "sequential": "[products(k) for k in range(16)]",
        },
        target="parjob <= joblib",
    ),
]
