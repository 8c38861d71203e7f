"""A parjob config block steers joblib for the same block and restores it after; joblib's
own API reaches every parjob backend as ``parjob-<name>``."""

from __future__ import annotations

import multiprocessing
import threading
import time

import joblib
import pytest
from bridge_tasks import fail, where
from joblib.parallel import get_active_backend

import parjob_joblib
from parjob import parallel_backend, parallel_config
from parjob_joblib import ParjobBackend


def active() -> tuple[object, object]:
    backend, n_jobs = get_active_backend()
    name = backend.parjob_backend.name if isinstance(backend, ParjobBackend) else type(backend)
    return name, n_jobs


def test_a_block_steers_joblib_and_leaving_restores_it() -> None:
    before = active()
    with parallel_config("threading", n_jobs=3):
        assert active() == ("threading", 3)
        with parallel_backend("sequential"):
            assert active() == ("sequential", -1)
        with parallel_config(n_jobs=2):  # no backend named: joblib keeps the outer one
            assert active() == ("threading", 2)
        assert active() == ("threading", 3)
    assert active() == before


def test_leaving_on_an_error_restores_joblib() -> None:
    before = active()
    with pytest.raises(ZeroDivisionError), parallel_config("threading"):
        1 / 0  # noqa: B018
    assert active() == before


def test_naming_a_backend_without_n_jobs_uses_all_its_workers_as_in_parjob() -> None:
    with parallel_config("threading"):
        assert joblib.effective_n_jobs(None) == joblib.cpu_count()


def test_threads_keep_their_own_blocks() -> None:
    seen: dict[str, object] = {}
    both_inside = threading.Barrier(2)

    def run(name: str, n_jobs: int) -> None:
        with parallel_config(name, n_jobs=n_jobs):
            both_inside.wait(timeout=10)
            time.sleep(0.01)
            seen[name] = active()
        seen[name + " after"] = active()

    threads = [
        threading.Thread(target=run, args=("threading", 3)),
        threading.Thread(target=run, args=("sequential", 1)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen["threading"] == ("threading", 3)
    assert seen["sequential"] == ("sequential", 1)
    assert seen["threading after"] == seen["sequential after"] != ("threading", 3)


def test_joblib_api_reaches_every_parjob_backend_by_name() -> None:
    names = parjob_joblib.register()
    assert {"parjob-loky", "parjob-dask", "parjob-ray", "parjob-spark"} <= set(names)
    with joblib.parallel_config("parjob-loky", n_jobs=2):
        places = joblib.Parallel()(joblib.delayed(where)(i) for i in range(4))
    assert where() not in places
    out = joblib.Parallel(n_jobs=2, backend="parjob-threading", return_as="generator")(
        joblib.delayed(abs)(-i) for i in range(5)
    )
    assert list(out) == [0, 1, 2, 3, 4]


def test_errors_and_bad_parameters() -> None:
    with pytest.raises(KeyError, match="task 3 fails"):
        joblib.Parallel(n_jobs=2, backend="parjob-threading")(
            joblib.delayed(fail)(i) for i in range(6)
        )
    with pytest.raises(TypeError, match="parjob-threading"):
        joblib.Parallel(n_jobs=2, backend="parjob-threading", scatter=[1])(
            joblib.delayed(abs)(i) for i in range(2)
        )
    with pytest.raises(TypeError, match="backend 'threading'"):
        joblib.parallel_config("parjob-threading", not_a_parameter=1)


def test_nested_joblib_calls_in_loky_workers_use_the_backends_nested_choice() -> None:
    with parallel_config("loky", n_jobs=2):
        inner = joblib.Parallel()(joblib.delayed(nested_backend)() for _ in range(2))
    assert inner == [("threading", 1)] * 2  # parjob-loky: threads inside workers


def nested_backend() -> tuple[str, int]:
    backend, n_jobs = get_active_backend()
    return backend.parjob_backend.name, n_jobs


def test_timeout_stops_the_call() -> None:
    with pytest.raises(multiprocessing.TimeoutError):  # joblib's timeout error
        joblib.Parallel(n_jobs=2, backend="parjob-loky", timeout=0.5)(
            joblib.delayed(time.sleep)(s) for s in (0.01, 5, 5)
        )


def test_no_thread_is_left_behind() -> None:
    with parallel_config("threading", n_jobs=2):
        for _ in range(3):
            joblib.Parallel()(joblib.delayed(abs)(i) for i in range(20))
        with pytest.raises(KeyError):
            joblib.Parallel()(joblib.delayed(fail)(i) for i in range(6))
    end = time.monotonic() + 10
    while time.monotonic() < end and relays():
        time.sleep(0.01)
    assert relays() == []


def relays() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "parjob-joblib-relay"]
