"""The loky pool: reused and resized across calls; interactive functions work."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from loky_tasks import loky_workers, pid, pid_after

from parjob import Parallel, delayed
from parjob.backends import threadpools


@pytest.fixture(autouse=True)
def no_pools_of_earlier_tests() -> None:
    # Nested loky calls made in earlier tests' kept thread workers may keep their pools
    # (twins of the busy reusable one) while those threads idle; these tests count workers.
    threadpools.discard_idle()
    gc.collect()


def test_workers_are_reused_across_calls() -> None:
    first = set(Parallel(n_jobs=2, batch_size=1)(delayed(pid_after)(0.1) for _ in range(6)))
    pool = loky_workers(expect=2)
    assert first <= pool and len(pool) == 2
    second = set(Parallel(n_jobs=2, batch_size=1)(delayed(pid_after)(0.1) for _ in range(6)))
    assert second <= pool
    assert loky_workers() == pool


def test_pool_is_resized_not_restarted() -> None:
    Parallel(n_jobs=2)(delayed(pid)() for _ in range(4))
    two = loky_workers(expect=2)
    assert len(two) == 2
    Parallel(n_jobs=3)(delayed(pid)() for _ in range(6))
    three = loky_workers(expect=3)
    assert len(three) == 3 and two <= three
    Parallel(n_jobs=2)(delayed(pid)() for _ in range(4))
    back = loky_workers(expect=2)
    assert len(back) == 2 and back <= three


def test_context_manager_keeps_the_same_workers() -> None:
    with Parallel(n_jobs=2) as parallel:
        before = loky_workers(expect=2)
        parallel(delayed(pid)() for _ in range(4))
        parallel(delayed(pid)() for _ in range(4))
        assert loky_workers() == before


def test_lambdas_and_closures_from_a_test_module() -> None:
    scale = 3

    def times(x: int) -> int:
        return x * scale

    assert Parallel(n_jobs=2)(delayed(times)(i) for i in range(5)) == [0, 3, 6, 9, 12]
    square = lambda x: x * x  # noqa: E731
    assert Parallel(n_jobs=2)(delayed(square)(i) for i in range(5)) == [0, 1, 4, 9, 16]


MAIN_SCRIPT = """
import os
from parjob import Parallel, delayed

def work(x):
    return x + OFFSET

class Box:
    def __init__(self, value):
        self.value = value

OFFSET = 100

if __name__ == "__main__":
    base = 7
    closure = lambda x: x * base
    with Parallel(n_jobs=2, backend={backend!r}) as parallel:
        print(parallel(delayed(work)(i) for i in range(3)))
        print(parallel(delayed(closure)(i) for i in range(3)))
        print([b.value for b in parallel(delayed(Box)(i) for i in range(3))])
        print(len(set(parallel(delayed(os.getpid)() for _ in range(4)))) >= 1)
"""

EXPECTED = "[100, 101, 102]\n[0, 7, 14]\n[0, 1, 2]\nTrue\n"


def test_functions_defined_in_a_main_script(tmp_path: Path) -> None:
    for backend in ("loky", "multiprocessing"):
        script = tmp_path / f"script_{backend}.py"
        script.write_text(MAIN_SCRIPT.format(backend=backend))
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == EXPECTED


def test_functions_defined_with_python_c() -> None:
    code = textwrap.dedent(
        """
        from parjob import Parallel, delayed
        def f(x):
            return -x
        print(Parallel(n_jobs=2)(delayed(f)(i) for i in range(4)))
        print(Parallel(n_jobs=2)(delayed(lambda x: x + 1)(i) for i in range(4)))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[0, -1, -2, -3]\n[1, 2, 3, 4]\n"


def test_multiprocessing_pool_lives_for_one_call() -> None:
    first = set(Parallel(n_jobs=2, backend="multiprocessing")(delayed(pid)() for _ in range(4)))
    second = set(Parallel(n_jobs=2, backend="multiprocessing")(delayed(pid)() for _ in range(4)))
    assert first.isdisjoint(second)
    with Parallel(n_jobs=2, backend="multiprocessing", batch_size=1) as parallel:
        one = set(parallel(delayed(pid_after)(0.05) for _ in range(4)))
        two = set(parallel(delayed(pid_after)(0.05) for _ in range(4)))
    assert one & two


def test_same_results_from_both_backends() -> None:
    for backend in ("loky", "multiprocessing"):
        out = Parallel(n_jobs=2, backend=backend)(delayed(divmod)(i, 7) for i in range(100))
        assert out == [divmod(i, 7) for i in range(100)]


NO_NUMPY = """
import sys
from parjob import Parallel, delayed

def work(x):
    return (x, "numpy" in sys.modules and sys.modules["numpy"] is not None)

if __name__ == "__main__":
    for backend in ("loky", "multiprocessing"):
        print(Parallel(n_jobs=2, backend=backend)(delayed(work)(i) for i in range(3)))
    print(sys.modules.get("numpy"))
"""


def test_works_without_numpy(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked" / "numpy"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('numpy is not installed here')\n")
    script = tmp_path / "no_numpy.py"
    script.write_text(NO_NUMPY)
    env = {**os.environ, "PYTHONPATH": str(blocker.parent)}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    expected = "[(0, False), (1, False), (2, False)]\n"
    assert done.stdout == expected * 2 + "None\n"


def test_batches_are_timed_until_their_results_are_back() -> None:
    import time

    import numpy as np

    from parjob.tasks import BatchResult
    from parjob_loky.base import RESULT_BYTES_PER_SECOND, _timed

    started = time.monotonic() - 0.5
    assert 0.5 <= _timed(BatchResult([1], 0.1), started).seconds < 5
    # another clock (or a broken one): keep the worker's own measure
    assert _timed(BatchResult([1], 0.1), started + 10).seconds == 0.1
    assert _timed(BatchResult([1], 0.1), started - 10_000).seconds == 0.1
    # large results count as time, so their batches stay small
    arrays = [np.ones(1024**2 // 8)] * 64  # 64 MiB
    assert _timed(BatchResult(arrays, 0.001), started + 10).seconds == pytest.approx(
        64 * 1024**2 / RESULT_BYTES_PER_SECOND
    )
