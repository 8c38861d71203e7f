"""Core issue workloads: tiny tasks on threads and inline, CPU-bound tasks on threads."""

from harness import DOUBLE, SPIN, Case, Workload

TINY = DOUBLE + "N = 100_000\n"

#: one call in each case's untimed setup, as the floor's pool is made there: the row
#: measures the calls a program makes once its libraries are loaded (scikit-learn's case)
WARM_THREADS = "Parallel(n_jobs=2, backend='threading')(delayed(double)(i) for i in range(4))"

WORKLOADS = [
    Workload(
        name="100k tiny tasks, threading, n_jobs=2",
        setup=TINY,
        cases={
            "parjob": Case(
                "Parallel(n_jobs=2, backend='threading')(delayed(double)(i) for i in range(N))",
                "from parjob import Parallel, delayed",
            ),
            "joblib": Case(
                "Parallel(n_jobs=2, backend='threading')(delayed(double)(i) for i in range(N))",
                "from joblib import Parallel, delayed",
            ),
            "floor": Case(
                "list(pool.map(lambda c: [double(i) for i in c],"
                " [range(k, min(k + 25_000, N)) for k in range(0, N, 25_000)]))",
                "from concurrent.futures import ThreadPoolExecutor\npool = ThreadPoolExecutor(2)",
            ),
        },
        target="parjob <= 1/20 of joblib",
    ),
    Workload(
        name="100k tiny tasks, n_jobs=1",
        setup=TINY,
        cases={
            "parjob": Case(
                "Parallel(n_jobs=1)(delayed(double)(i) for i in range(N))",
                "from parjob import Parallel, delayed",
            ),
            "joblib": Case(
                "Parallel(n_jobs=1)(delayed(double)(i) for i in range(N))",
                "from joblib import Parallel, delayed",
            ),
            "floor": "[double(i) for i in range(N)]",
        },
        target="parjob <= 1/4 of joblib",
    ),
    Workload(
        name="200 CPU-bound tasks (200k-step loops), threading, n_jobs=2",
        setup=SPIN,
        cases={
            "parjob": Case(
                "Parallel(n_jobs=2, backend='threading')(delayed(spin)(200_000) for _ in range(200))",
                "from parjob import Parallel, delayed",
            ),
            "joblib": Case(
                "Parallel(n_jobs=2, backend='threading')(delayed(spin)(200_000) for _ in range(200))",
                "from joblib import Parallel, delayed",
            ),
            "floor": Case(
                "list(pool.map(lambda c: [spin(n) for n in c], [[200_000] * 50] * 4))",
                "from concurrent.futures import ThreadPoolExecutor\npool = ThreadPoolExecutor(2)",
            ),
            "sequential": "[spin(200_000) for _ in range(200)]",
        },
        target="parjob <= 1.05 x sequential",
    ),
    Workload(
        name="2,000 threading calls of 4 tiny tasks, n_jobs=2",
        setup=DOUBLE,
        cases={
            "parjob": Case(
                "for _ in range(2000):\n"
                "    Parallel(n_jobs=2, backend='threading')(delayed(double)(i) for i in range(4))",
                "from parjob import Parallel, delayed\n" + WARM_THREADS,
            ),
            "joblib": Case(
                "for _ in range(2000):\n"
                "    Parallel(n_jobs=2, backend='threading')(delayed(double)(i) for i in range(4))",
                "from joblib import Parallel, delayed\n" + WARM_THREADS,
            ),
            "floor": Case(
                "for _ in range(2000):\n    list(pool.map(double, range(4)))",
                "from concurrent.futures import ThreadPoolExecutor\npool = ThreadPoolExecutor(2)\n"
                "list(pool.map(double, range(4)))",
            ),
        },
        target="parjob <= 2 x floor (kept thread workers; joblib#1830)",
    ),
]
