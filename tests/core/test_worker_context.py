"""What reaches the workers (issue 22): the parts the conformance suite does not cover."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import textwrap
import threading
import traceback
import warnings
from pathlib import Path

import pytest

from parjob import Parallel, SeedWarning, delayed, parallel_config, plugins, task_rng
from parjob.backends import threadpools

sys.path.insert(0, str(Path(__file__).parent))
import context_tasks

DOCS = Path(__file__).parents[2] / "docs" / "workers.md"


def test_worker_side_modules_do_not_import_config() -> None:
    # the circle config -> plugins -> backends -> backend -> tasks -> config is gone
    code = "import sys, parjob.tasks, parjob.backend; print('parjob.config' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_examples_in_workers_md_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert len(blocks) >= 5
    runner = "\n".join(
        f"exec(compile({block!r}, 'workers.md', 'exec'), {{'__name__': '__main__'}})"
        for block in blocks
    )
    out = subprocess.run(
        [sys.executable, "-c", runner], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "printed by task 2" in out.stdout and "task 2 ran" in out.stderr
    assert "tiny(2)" in out.stdout and "0.3333" in out.stdout


def test_free_threaded_interpreter_prefers_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    assert Parallel(n_jobs=2).backend.name == "threading"
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: True, raising=False)
    assert Parallel(n_jobs=2).backend.name == plugins.default_backend_name()


def test_unpicklable_context_value_is_named_once_and_stays_behind() -> None:
    token = context_tasks.LOCK_HOLDER.set(threading.Lock())
    try:
        threads = Parallel(n_jobs=2, backend="threading")(
            delayed(context_tasks.holder)(i) for i in range(2)
        )
        assert threads == ["lock", "lock"]
        with pytest.warns(UserWarning, match="parjob_test_lock_holder"):
            out = Parallel(n_jobs=2, backend="loky")(
                delayed(context_tasks.holder)(i) for i in range(2)
            )
        assert out == [None, None]
    finally:
        context_tasks.LOCK_HOLDER.reset(token)


def test_decimal_context_and_hooked_library_settings_reach_processes() -> None:
    manager = plugins._load().manager
    carrier = context_tasks.Carrier()
    manager.register(carrier)
    try:
        with context_tasks.setting("from the caller"), decimal_precision(7):
            out = Parallel(n_jobs=2, backend="loky")(
                delayed(context_tasks.library_setting)(i) for i in range(2)
            )
            digits = Parallel(n_jobs=2, backend="loky")(
                delayed(context_tasks.precision)(i) for i in range(2)
            )
    finally:
        manager.unregister(carrier)
    assert out == ["from the caller"] * 2
    assert digits == [7, 7]


def decimal_precision(digits: int):  # type: ignore[no-untyped-def]
    import decimal

    context = decimal.Context(prec=digits)
    return decimal.localcontext(context)


def test_thread_workers_are_kept_between_calls() -> None:
    threadpools.discard_idle()
    first = set(
        Parallel(n_jobs=2, backend="threading", batch_size=1)(
            delayed(context_tasks.ident)(i) for i in range(20)
        )
    )
    second = set(
        Parallel(n_jobs=2, backend="threading", batch_size=1)(
            delayed(context_tasks.ident)(i) for i in range(20)
        )
    )
    assert second <= first | second and len(first | second) <= 2


def test_nested_and_concurrent_threading_calls_do_not_share_a_pool() -> None:
    out = Parallel(n_jobs=2, backend="threading")(
        delayed(context_tasks.nested_threads)(n) for n in range(1, 5)
    )
    assert out == [list(range(n)) for n in range(1, 5)]
    results: list[list[int]] = []
    callers = [
        threading.Thread(target=lambda: results.append(context_tasks.nested_threads(50)))
        for _ in range(4)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=60)
    assert results == [list(range(50))] * 4


def test_threads_exit_with_the_interpreter() -> None:
    script = textwrap.dedent(
        """
        from parjob import Parallel, delayed
        print(Parallel(n_jobs=2, backend="threading")(delayed(abs)(-i) for i in range(3)))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[0, 1, 2]"


def test_task_rng_outside_a_seeded_task_is_refused() -> None:
    with pytest.raises(RuntimeError, match="seed="):
        task_rng()
    with pytest.raises(RuntimeError, match="seed="):
        Parallel(n_jobs=2, backend="threading")(delayed(task_rng)() for _ in range(2))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"seed": -1}, ValueError, "seed must be None or an int >= 0, got -1"),
        ({"seed": 1.5}, ValueError, "seed must be"),
        ({"seed": 1, "seed_globals": 1}, ValueError, "seed_globals must be True or False, got 1"),
        ({"seed_globals": True}, ValueError, r"seed_globals=True needs seed=\.\.\."),
        (
            {"seed": 1, "seed_globals": True, "backend": "threading"},
            ValueError,
            "seed_globals=True cannot be honoured on .*threading.*task_rng",
        ),
        ({"initializer": 3}, TypeError, "initializer must be a callable"),
        ({"initializer": print, "initargs": 3}, TypeError, "initargs must be a tuple"),
        ({"initargs": (1,)}, ValueError, "without an initializer"),
        ({"relay_logs": "yes"}, ValueError, "relay_logs must be True, False or None"),
    ],
)
def test_bad_options_are_named(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        Parallel(n_jobs=2, **kwargs)


def test_relay_switch_in_a_config_block() -> None:
    with pytest.raises(ValueError, match="relay_output"):
        parallel_config(relay_output=1)
    with parallel_config(relay_output=False) as active:
        assert active["relay_output"] is False


def test_no_options_no_context_travels() -> None:
    # a fresh interpreter: no context variable set, no option, threads (nothing to relay)
    code = "from parjob.callcontext import capture; print(capture(portable=False))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_a_failing_initializer_raises_its_own_error(backend: str) -> None:
    with pytest.raises(KeyError, match="no model here") as info:
        Parallel(n_jobs=2, backend=backend, initializer=context_tasks.failing_initializer)(
            delayed(abs)(i) for i in range(4)
        )
    assert "worker setup" in "".join(getattr(info.value, "__notes__", []))


def _fails_on_three(x: int) -> int:
    if x == 3:
        raise KeyError(x)
    return x


def test_a_seeded_thread_batch_names_the_task_that_failed() -> None:
    tasks = [delayed(abs)(-1), delayed(_fails_on_three)(3), delayed(abs)(-2)]
    with pytest.raises(KeyError) as info:
        Parallel(n_jobs=2, backend="threading", batch_size=3, seed=1)(tasks)
    assert "_fails_on_three" in "".join(traceback.format_exception(info.value))


def test_thread_workers_leave_the_global_generators_alone_under_seed() -> None:
    random.seed(123)
    expected = random.random()
    random.seed(123)
    Parallel(n_jobs=2, backend="threading", seed=5)(delayed(abs)(-i) for i in range(20))
    assert random.random() == expected


def test_seed_alone_leaves_the_global_generators_alone_in_the_caller() -> None:
    random.seed(123)
    expected = random.random()
    random.seed(123)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeedWarning)  # (that warning is tested below)
        Parallel(n_jobs=1, seed=5)(delayed(random.random)() for _ in range(3))
    # the tasks drew from the caller's globals as they were, and nothing reseeded them
    assert random.random() != expected
    random.seed(123)
    drawn = Parallel(n_jobs=1, seed=5)(delayed(random.random)() for _ in range(3))
    random.seed(123)
    assert drawn == [random.random() for _ in range(3)]


def test_seed_globals_seeds_each_inline_task_and_a_thread_call_of_one_worker() -> None:
    inline = Parallel(n_jobs=1, seed=5, seed_globals=True)(
        delayed(random.random)() for _ in range(4)
    )
    threads = Parallel(n_jobs=1, backend="threading", seed=5, seed_globals=True)(
        delayed(random.random)() for _ in range(4)
    )
    assert inline == threads and len(set(inline)) == 4


def _draw_around_a_nested_call(_: int) -> tuple[int, int, list[int]]:
    first = int(task_rng().integers(1 << 40))
    nested = Parallel(n_jobs=1, seed=9)(
        delayed(lambda: int(task_rng().integers(1 << 40)))() for _ in range(2)
    )
    return first, int(task_rng().integers(1 << 40)), nested


def test_a_nested_seeded_call_leaves_the_outer_task_its_own_stream() -> None:
    pytest.importorskip("numpy")
    import numpy

    out = Parallel(n_jobs=2, backend="threading", seed=4)(
        delayed(_draw_around_a_nested_call)(i) for i in range(3)
    )
    for index, (first, second, nested) in enumerate(out):
        own = numpy.random.default_rng(numpy.random.SeedSequence(4, spawn_key=(index,)))
        assert [first, second] == [int(own.integers(1 << 40)) for _ in range(2)]
        assert nested == out[0][2]  # the nested call's tasks have their own streams


@pytest.mark.parametrize(("backend", "n_jobs"), [("loky", 2), ("threading", 2), ("sequential", 1)])
def test_draws_from_the_global_generators_under_seed_are_warned_once(
    backend: str, n_jobs: int
) -> None:
    pytest.importorskip("numpy")
    if backend == "loky":
        pytest.importorskip("parjob_loky")
    # each function is watched in its first seeded batch in each process
    func = {
        "loky": context_tasks.draws_random_globally,
        "threading": context_tasks.draws_numpy_globally,  # (numpy is loaded here)
        "sequential": _draws_globally_inline,
    }[backend]
    with pytest.warns(SeedWarning, match=r"drew from the global .*task_rng\(\).*seed_globals"):
        Parallel(n_jobs=n_jobs, backend=backend, seed=1, batch_size=4)(
            delayed(func)(i) for i in range(8)
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the own stream, or the globals seeded: no warning
        Parallel(n_jobs=n_jobs, backend=backend, seed=1)(
            delayed(context_tasks.draws_own_stream)(i) for i in range(8)
        )
        if backend != "threading":
            Parallel(n_jobs=n_jobs, backend=backend, seed=1, seed_globals=True)(
                delayed(func)(i) for i in range(8)
            )


def _draws_globally_inline(_: int) -> float:
    return random.random()
