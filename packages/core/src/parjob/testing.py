"""The backend conformance suite: every backend, ours or a third party's, runs it on itself.

Subclass :class:`BackendConformance` in a pytest module and name the backend::

    from parjob.testing import BackendConformance

    class TestMyBackend(BackendConformance):
        backend = "mine"            # a registered name, or override make_backend()
        backend_params = {}         # passed to the backend's constructor

The tests use only the public API. The task functions live in this module so that
process and cluster workers can import them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from parjob import Parallel, delayed, parallel_config
from parjob.backend import Backend
from parjob.batching import Batcher
from parjob.errors import ResultSerializationError, SerializationError
from parjob.testing_budget import CpuBudgetConformance
from parjob.testing_context import WorkerContextConformance
from parjob.testing_failures import (  # noqa: F401 - exit_on, fail_until: also found here
    FailurePolicyConformance,
    exit_on,
    fail_until,
)
from parjob.testing_observe import ObserveConformance

# -- task functions (importable by workers) ---------------------------------------------


def square(x: int) -> int:
    return x * x


def identity(x: Any) -> Any:
    return x


def sleep_then(x: Any, seconds: float) -> Any:
    time.sleep(seconds)
    return x


def fail_on(x: int, bad: int) -> int:
    if x == bad:
        raise ValueError(f"task got the bad value {x}")
    return x


def touch_after(path: str, seconds: float) -> str:
    time.sleep(seconds)
    with open(path, "w") as handle:
        handle.write("ran")
    return path


def mark_after(path: str, seconds: float) -> str:
    """Sleep, then append one mark to ``path``: a file with two marks ran twice."""
    time.sleep(seconds)
    with open(path, "a") as handle:
        handle.write("x")
    return path


def nested_sum(n: int) -> int:
    return sum(Parallel(n_jobs=2)(delayed(square)(i) for i in range(n)))


def nbytes(data: Any) -> int:
    return len(data)


def worker_id(_: Any) -> tuple[int, int]:
    return (os.getpid(), threading.get_ident())


def lock_on(x: int, bad: int) -> Any:
    """``x``, or a lock (which cannot be pickled back to the caller) when ``x == bad``."""
    return threading.Lock() if x == bad else x


class CustomError(Exception):
    """An exception type of our own, to check the caller gets the same type back."""

    def __init__(self, code: int) -> None:
        super().__init__(f"custom failure {code}")
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (CustomError, (self.code,))


def raise_custom(code: int) -> None:
    raise CustomError(code)


# -- the suite -------------------------------------------------------------------------


class BackendConformance(
    ObserveConformance, FailurePolicyConformance, WorkerContextConformance, CpuBudgetConformance
):
    """Behaviour every parjob backend must show. Subclass it and set ``backend``."""

    backend: ClassVar[str] = ""
    backend_params: ClassVar[dict[str, Any]] = {}
    n_jobs: ClassVar[int] = 2
    #: False for backends that run tasks in the caller, where ``timeout`` does not apply
    supports_timeout: ClassVar[bool] = True

    def make_backend(self) -> Backend | str:
        """The backend under test: a name (default ``backend``) or an instance."""
        return self.backend

    @pytest.fixture
    def configured(self) -> Iterator[None]:
        backend = self.make_backend()
        params = self.backend_params if isinstance(backend, str) else {}
        with parallel_config(backend, n_jobs=self.n_jobs, **params):
            yield

    def capabilities(self) -> Backend:
        with parallel_config(self.make_backend(), **self._params()):
            return Parallel().backend

    def _params(self) -> dict[str, Any]:
        return self.backend_params if isinstance(self.make_backend(), str) else {}

    # ordering and return forms
    def test_results_in_input_order(self, configured: None) -> None:
        assert Parallel()(delayed(square)(i) for i in range(50)) == [i * i for i in range(50)]

    def test_results_in_order_with_uneven_durations(self, configured: None) -> None:
        delays = [0.05 if i % 3 == 0 else 0.0 for i in range(12)]
        out = Parallel()(delayed(sleep_then)(i, d) for i, d in enumerate(delays))
        assert out == list(range(12))

    def test_generator_is_lazy_and_ordered(self, configured: None) -> None:
        out = Parallel(return_as="generator")(delayed(square)(i) for i in range(30))
        assert not isinstance(out, list)
        assert next(out) == 0
        assert list(out) == [i * i for i in range(1, 30)]

    def test_generator_unordered_returns_every_result(self, configured: None) -> None:
        out = Parallel(return_as="generator_unordered")(
            delayed(sleep_then)(i, 0.05 if i == 0 else 0.0) for i in range(20)
        )
        assert sorted(out) == list(range(20))

    def test_empty_input(self, configured: None) -> None:
        assert Parallel()([]) == []
        assert list(Parallel(return_as="generator")([])) == []

    def test_one_task(self, configured: None) -> None:
        assert Parallel()([delayed(square)(7)]) == [49]

    def test_ten_thousand_tasks(self, configured: None) -> None:
        assert Parallel()(delayed(square)(i) for i in range(10_000)) == [
            i * i for i in range(10_000)
        ]

    def test_fixed_batch_size(self, configured: None) -> None:
        out = Parallel(batch_size=7)(delayed(square)(i) for i in range(50))
        assert out == [i * i for i in range(50)]

    def test_pre_dispatch_bounds_consumption(self, configured: None) -> None:
        produced: list[int] = []

        def tasks() -> Iterator[Any]:
            for i in range(100):
                produced.append(i)
                yield delayed(square)(i)

        out = Parallel(return_as="generator", pre_dispatch="n_jobs", batch_size=1)(tasks())
        first = next(out)
        assert first == 0
        assert len(produced) < 100
        assert list(out) == [i * i for i in range(1, 100)]

    # errors
    def test_task_error_reraises_its_own_type(self, configured: None) -> None:
        with pytest.raises(ValueError, match="bad value 13") as info:
            Parallel()(delayed(fail_on)(i, 13) for i in range(40))
        notes = "".join(getattr(info.value, "__notes__", []))
        if notes:  # Python 3.11+: the note names the task
            assert "task 13" in notes and "fail_on" in notes

    def test_custom_exception_keeps_type_and_state(self, configured: None) -> None:
        with pytest.raises(CustomError) as info:
            Parallel()(delayed(raise_custom)(i) for i in [5])
        assert info.value.code == 5

    def test_worker_traceback_is_chained(self, configured: None) -> None:
        with pytest.raises(ValueError) as info:
            Parallel()(delayed(fail_on)(i, 0) for i in range(4))
        chain = info.value.__cause__
        frames = info.traceback
        in_worker = chain is not None and "fail_on" in str(chain)
        assert in_worker or any(entry.name == "fail_on" for entry in frames)

    def test_error_in_generator_mode(self, configured: None) -> None:
        # one batch of one task at a time: the results before the failure come back first
        # (with more in flight, the failure may overtake them, and is raised at once)
        out = Parallel(return_as="generator", batch_size=1, pre_dispatch=1)(
            delayed(fail_on)(i, 3) for i in range(10)
        )
        assert next(out) == 0
        with pytest.raises(ValueError):
            list(out)

    def test_tasks_beyond_a_first_batch_budget_run_once_each(
        self, configured: None, tmp_path: Any
    ) -> None:
        # The first batches go out before any timing, with a time budget: a worker stops
        # such a batch when the budget is spent, and the core sends the rest again. The
        # backend must hand back the batch's (shorter) result as it is.
        budget = Batcher("auto", self.n_jobs, self.capabilities().target_batch_seconds).budget
        marks = [str(tmp_path / f"ran-{i}") for i in range(6)]
        assert budget is not None
        out = Parallel()(delayed(mark_after)(m, budget * 1.2) for m in marks)
        assert out == marks
        assert [Path(m).read_text() for m in marks] == ["x"] * len(marks)

    def test_error_cancels_remaining_tasks(self, configured: None, tmp_path: Any) -> None:
        marks = [str(tmp_path / f"ran-{i}") for i in range(40)]
        tasks = [delayed(fail_on)(0, 0)] + [delayed(touch_after)(m, 0.05) for m in marks]
        with pytest.raises(ValueError):
            Parallel(batch_size=1)(tasks)
        time.sleep(0.3)
        assert sum(os.path.exists(m) for m in marks) < len(marks)

    def test_usable_after_an_error(self, configured: None) -> None:
        with pytest.raises(ValueError):
            Parallel()(delayed(fail_on)(i, 1) for i in range(5))
        assert Parallel()(delayed(square)(i) for i in range(5)) == [0, 1, 4, 9, 16]

    def test_unpicklable_argument(self, configured: None) -> None:
        lock = threading.Lock()
        backend = self.capabilities()
        if not backend.serializes:
            assert Parallel()(delayed(identity)(lock) for _ in range(2)) == [lock, lock]
            return
        with pytest.raises(SerializationError, match="lock"):
            Parallel()(delayed(identity)(x) for x in [1, lock])

    def test_unpicklable_result(self, configured: None) -> None:
        if not self.capabilities().serializes:  # results stay in the caller's memory
            out = Parallel(batch_size=1)(delayed(lock_on)(i, 1) for i in range(3))
            assert out[0] == 0 and out[2] == 2
            return
        # not a crash: a serialization error naming a task, and the TypeError joblib raises
        # (an engine that fetches several results in one message, as dask does, may fail a
        # neighbour's fetch first: the task named is then that neighbour)
        with pytest.raises(ResultSerializationError, match=r"task \d \(lock_on\)") as info:
            Parallel(batch_size=1)(delayed(lock_on)(i, 1) for i in range(3))
        assert isinstance(info.value, TypeError) and "pickle" in str(info.value)
        assert Parallel()(delayed(square)(i) for i in range(3)) == [0, 1, 4]

    def test_one_instance_shared_by_concurrent_calls(self) -> None:
        # parallel_config(backend=instance) around threads: every call must finish with its
        # own results, none may stop or clean up another's work, and nothing may hang
        instance = self.capabilities()
        results: dict[int, list[int]] = {}
        errors: list[BaseException] = []

        def call(k: int) -> None:
            try:
                with parallel_config(instance, n_jobs=self.n_jobs):
                    tasks = (delayed(sleep_then)(100 * k + i, 0.005 * (k % 2)) for i in range(30))
                    results[k] = Parallel()(tasks)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=call, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads), "a call hung"
        assert not errors, errors
        assert results == {k: [100 * k + i for i in range(30)] for k in range(4)}

    def test_lambda_and_closure(self, configured: None) -> None:
        offset = 10
        assert Parallel()(delayed(lambda x: x + offset)(i) for i in range(5)) == list(range(10, 15))

    # timeouts
    def test_timeout_raises(self, configured: None) -> None:
        if not self.supports_timeout:
            pytest.skip("this backend runs tasks in the caller; timeout does not apply")
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            Parallel(timeout=0.5)(delayed(sleep_then)(i, 3 if i == 1 else 0) for i in range(4))
        if self.capabilities().can_interrupt:
            assert time.monotonic() - started < 3
        assert Parallel()(delayed(square)(i) for i in range(3)) == [0, 1, 4]

    def test_no_timeout_when_tasks_are_quick(self, configured: None) -> None:
        if self.supports_timeout:
            out = Parallel(timeout=30)(delayed(sleep_then)(i, 0.01) for i in range(10))
        else:  # tasks run in the caller: joblib's warning says timeout is not used
            with pytest.warns(UserWarning, match="'timeout' parameter will not be used"):
                out = Parallel(timeout=30)(delayed(sleep_then)(i, 0.01) for i in range(10))
        assert out == list(range(10))

    # data
    def test_large_arguments(self, configured: None) -> None:
        blob = b"x" * (8 * 1024 * 1024)
        assert Parallel()(delayed(nbytes)(blob) for _ in range(4)) == [len(blob)] * 4

    def test_large_results(self, configured: None) -> None:
        out = Parallel()(delayed(identity)(b"y" * (2 * 1024 * 1024)) for _ in range(3))
        assert [len(x) for x in out] == [2 * 1024 * 1024] * 3

    # nesting and reuse
    def test_nested_calls(self, configured: None) -> None:
        out = Parallel()(delayed(nested_sum)(n) for n in range(1, 6))
        assert out == [sum(i * i for i in range(n)) for n in range(1, 6)]

    def test_reuse_across_calls_in_context_manager(self, configured: None) -> None:
        with Parallel() as parallel:
            first = parallel(delayed(square)(i) for i in range(10))
            second = parallel(delayed(square)(i) for i in range(10, 20))
        assert first + second == [i * i for i in range(20)]

    def test_context_manager_survives_an_error(self, configured: None) -> None:
        with Parallel() as parallel:
            with pytest.raises(ValueError):
                parallel(delayed(fail_on)(i, 2) for i in range(6))
            assert parallel(delayed(square)(i) for i in range(6)) == [i * i for i in range(6)]

    def test_second_call_while_generator_runs_is_refused(self, configured: None) -> None:
        parallel = Parallel(return_as="generator")
        out = parallel(delayed(square)(i) for i in range(10))
        with pytest.raises(RuntimeError, match="still running"):
            parallel(delayed(square)(i) for i in range(10))
        assert list(out) == [i * i for i in range(10)]
        assert list(parallel(delayed(square)(i) for i in range(3))) == [0, 1, 4]

    # n_jobs rules
    def test_n_jobs_rules(self, configured: None) -> None:
        with pytest.raises(ValueError, match="n_jobs == 0"):
            Parallel(n_jobs=0)
        for n_jobs in (1, 2, -1, -2):
            assert Parallel(n_jobs=n_jobs)(delayed(square)(i) for i in range(6)) == [
                i * i for i in range(6)
            ]

    def test_effective_n_jobs_is_positive(self, configured: None) -> None:
        backend = self.capabilities()
        for n_jobs in (1, 2, -1, -2, -100):
            assert backend.effective_n_jobs(n_jobs) >= 1
