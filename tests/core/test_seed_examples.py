"""The examples of the reference documentation, run as written (with parjob imports)."""

from __future__ import annotations

import types
from heapq import nlargest
from math import modf, sqrt
from operator import neg
from time import sleep

import pytest

from parjob import Parallel, delayed, parallel_backend, parallel_config


def test_sqrt_sequential_and_two_workers() -> None:
    expected = [float(i) for i in range(10)]
    assert Parallel(n_jobs=1)(delayed(sqrt)(i**2) for i in range(10)) == expected
    assert Parallel(n_jobs=2)(delayed(sqrt)(i**2) for i in range(10)) == expected


def test_several_return_values_unzip() -> None:
    r = Parallel(n_jobs=1)(delayed(modf)(i / 2.0) for i in range(10))
    res, i = zip(*r, strict=True)
    assert res == (0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5)
    assert i == (0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0)


def test_generator_output_matches_input_order() -> None:
    parallel = Parallel(n_jobs=2, return_as="generator")
    output_generator = parallel(delayed(sqrt)(i**2) for i in range(10))
    assert isinstance(output_generator, types.GeneratorType)
    assert next(output_generator) == 0.0
    assert next(output_generator) == 1.0
    assert list(output_generator) == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]


def test_verbose_progress_lines(capsys: pytest.CaptureFixture[str]) -> None:
    Parallel(n_jobs=2, verbose=10, backend="threading")(delayed(sleep)(0.01) for _ in range(10))
    err = capsys.readouterr().err
    assert "[Parallel(n_jobs=2)]: Done" in err
    assert "Done  10 out of  10 | elapsed:    " in err and err.rstrip().endswith("finished")


def test_traceback_example_raises_the_task_type() -> None:
    with pytest.raises(TypeError):
        Parallel(n_jobs=2)(delayed(nlargest)(2, n) for n in (range(4), "abcde", 3))


def test_pre_dispatch_producer_consumer(capsys: pytest.CaptureFixture[str]) -> None:
    def producer():
        for i in range(6):
            print(f"Produced {i}")
            yield i

    out = Parallel(n_jobs=2, verbose=100, pre_dispatch="1.5*n_jobs", backend="threading")(
        delayed(sqrt)(i) for i in producer()
    )
    assert out == [sqrt(i) for i in range(6)]
    lines = capsys.readouterr().out.splitlines()
    produced = [line for line in lines if line.startswith("Produced")]
    assert len(produced) == 6
    first_done = next(k for k, line in enumerate(lines) if "Done" in line)
    # only pre_dispatch = 3 tasks were produced before the first result came back
    assert lines[:first_done].count("Produced 3") == 0
    assert lines[-1].endswith("finished")


def test_parallel_backend_threading_neg() -> None:
    with parallel_backend("threading"):
        assert Parallel()(delayed(neg)(i + 1) for i in range(5)) == [-1, -2, -3, -4, -5]


def test_parallel_config_threading_neg() -> None:
    with parallel_config(backend="threading"):
        assert Parallel()(delayed(neg)(i + 1) for i in range(5)) == [-1, -2, -3, -4, -5]


def test_prefer_threads() -> None:
    assert Parallel(n_jobs=2, prefer="threads").backend.name == "threading"


def test_require_sharedmem_shares_state() -> None:
    shared_set = set()

    def collect(x):  # type: ignore[no-untyped-def]
        shared_set.add(x)

    assert (
        Parallel(n_jobs=2, require="sharedmem")(delayed(collect)(i) for i in range(5)) == [None] * 5
    )
    assert sorted(shared_set) == [0, 1, 2, 3, 4]


def test_reusing_the_worker_pool_with_a_context_manager() -> None:
    with Parallel(n_jobs=2) as parallel:
        accumulator = 0.0
        n_iter = 0
        while accumulator < 1000:
            results = parallel(delayed(sqrt)(accumulator + i**2) for i in range(5))
            accumulator += sum(results)  # synchronization barrier
            n_iter += 1
    assert (round(accumulator, 6), n_iter) == (round(1136.5969161564717, 6), 14)


def test_return_generator_is_the_older_spelling() -> None:
    with pytest.warns(DeprecationWarning, match="return_as"):
        parallel = Parallel(n_jobs=2, return_generator=True)
    out = parallel(delayed(sqrt)(i**2) for i in range(10))
    assert isinstance(out, types.GeneratorType)
    assert list(out) == [float(i) for i in range(10)]


def test_wrap_non_picklable_objects_pickles_a_lambda() -> None:
    import pickle

    from parjob import wrap_non_picklable_objects

    wrapped = wrap_non_picklable_objects(lambda x: x + 1)
    assert pickle.loads(pickle.dumps(wrapped))(1) == 2
