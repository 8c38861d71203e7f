"""Issue 23 workloads: what watching a call costs (no observer, progress=True)."""

from harness import DOUBLE, Case, Workload

TINY = DOUBLE + "N = 100_000\n"
#: the bar draws to stderr: send it to a sink so the terminal's speed is not measured
QUIET = "import sys, io\nsys.stderr = io.StringIO()\n"
CALL = "Parallel(n_jobs={n}, backend='{backend}'{extra})(delayed(double)(i) for i in range(N))"
#: a first small call outside the timing: the pool's start and the one-time import of tqdm
#: (~0.1 s, once per process) are not what is measured
WARM = "Parallel(n_jobs={n}, backend='{backend}'{extra})(delayed(double)(i) for i in range(100))\n"


def _case(backend: str, n: int, extra: str = "") -> Case:
    setup = "from parjob import Parallel, delayed\n" + QUIET
    setup += WARM.format(n=n, backend=backend, extra=extra)
    return Case(CALL.format(n=n, backend=backend, extra=extra), setup)


WORKLOADS = [
    Workload(
        name=f"100k tiny tasks, {backend}, n_jobs={n}",
        setup=TINY,
        cases={
            "parjob": _case(backend, n),
            "progress": _case(backend, n, ", progress=True"),
            "verbose": _case(backend, n, ", verbose=10"),
        },
        target="progress <= 1.1 x parjob",
    )
    for backend, n in (("threading", 2), ("loky", 2), ("sequential", 1))
]
