"""The dask backend on a real LocalCluster: discovery, clients, sizing, nesting, errors,
cancellation and the dask parameters. Worker-side task functions are in ``dask_tasks``."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import dask_tasks as t
import pytest
from dask_helpers import scheduler_keys, wait_until_released, workerless_cluster
from distributed import Client, LocalCluster

import parjob_dask
from parjob import Parallel, RemoteTraceback, delayed, parallel_config
from parjob.plugins import entries
from parjob.testing import sleep_then
from parjob_dask import cluster
from parjob_dask.backend import DaskBackend

# -- discovery ---------------------------------------------------------------------------


def test_found_through_the_entry_point() -> None:
    entry = entries()["dask"]
    assert entry.source == "parjob-dask"
    with parallel_config("dask"):
        assert isinstance(Parallel().backend, DaskBackend)


def test_discovery_imports_no_engine() -> None:
    # finding backends must stay cheap: every call that names a backend loads the plugins,
    # and distributed, ray or pyspark each take a third of a second to a second to import
    engines = ("distributed", "dask", "ray", "pyspark", "loky")
    code = (
        "import sys; from parjob import plugins; plugins.entries(); "
        f"print([name for name in {engines!r} if name in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_unknown_parameter_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot create backend 'dask'"):
        Parallel(backend="dask", no_such_option=1)


def test_bad_scatter_and_client_are_refused() -> None:
    with pytest.raises(TypeError, match="scatter"):
        Parallel(backend="dask", scatter=object())
    with pytest.raises(TypeError, match="client"):
        Parallel(backend="dask", client=42)


# -- which client ------------------------------------------------------------------------


def test_uses_the_default_client(client: Client) -> None:
    parallel = Parallel(backend="dask")
    assert parallel.backend.client is client
    assert parallel(delayed(t.square)(i) for i in range(5)) == [0, 1, 4, 9, 16]


def test_explicit_client(client: Client) -> None:
    with parallel_config("dask", client=client):
        parallel = Parallel()
        assert parallel.backend.client is client
        assert parallel(delayed(t.square)(i) for i in range(3)) == [0, 1, 4]


def test_scheduler_address(client: Client, dask_cluster: LocalCluster) -> None:
    address = dask_cluster.scheduler_address
    try:
        with parallel_config("dask", client=address):
            first = Parallel()
            assert first(delayed(t.square)(i) for i in range(3)) == [0, 1, 4]
            second = Parallel()
        ours = first.backend.client
        # one connection of ours, reused; not the user's client
        assert ours is second.backend.client is not client
    finally:
        parjob_dask.close()  # closes our connection, never the user's cluster
    assert ours.status == "closed"
    assert client.status == "running"
    assert sum(client.nthreads().values()) == 2


# -- sizing ------------------------------------------------------------------------------


def test_n_jobs_unset_or_minus_one_is_every_worker_thread() -> None:
    assert Parallel(backend="dask").backend.effective_n_jobs(-1) == 2
    assert Parallel(backend="dask").n_jobs == -1  # unset means every worker thread
    with parallel_config("dask"):
        assert Parallel()._effective_n_jobs() == 2
    assert Parallel(backend="dask").backend.effective_n_jobs(-2) == 1


def test_n_jobs_follows_workers_joining_and_leaving(dask_cluster: LocalCluster) -> None:
    backend = Parallel(backend="dask").backend
    dask_cluster.scale(3)
    try:
        backend.client.wait_for_workers(3, timeout=60)
        assert backend.effective_n_jobs(-1) == 3
    finally:
        dask_cluster.scale(2)
    deadline = time.monotonic() + 60
    while backend.effective_n_jobs(-1) != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert backend.effective_n_jobs(-1) == 2


def test_explicit_n_jobs_caps_tasks_on_the_cluster() -> None:
    spans = Parallel(backend="dask", n_jobs=1, batch_size=1)(
        delayed(t.interval)(0.05) for _ in range(6)
    )
    spans.sort()
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert begin >= end  # one at a time, although two workers are idle


def test_n_jobs_1_runs_on_the_cluster() -> None:
    pids = set(Parallel(backend="dask", n_jobs=1)(delayed(t.where)() for _ in range(3)))
    assert os.getpid() not in pids


# -- nesting -----------------------------------------------------------------------------


def test_nested_calls_default_to_dask() -> None:
    assert Parallel(backend="dask")(delayed(t.backend_name)() for _ in range(2)) == ["dask"] * 2


def test_nested_fan_out_does_not_deadlock_two_workers() -> None:
    # 4 outer tasks on 2 one-thread workers, each waiting for 6 inner tasks
    out = Parallel(backend="dask", batch_size=1)(delayed(t.fan_out)(6) for _ in range(4))
    assert out == [[i * i for i in range(6)]] * 4


def test_two_levels_of_nesting() -> None:
    out = Parallel(backend="dask", batch_size=1)(delayed(t.fan_out_twice)(3) for _ in range(3))
    assert out == [2 * (0 + 1 + 4)] * 3


# -- results, errors, cancellation --------------------------------------------------------


def test_generator_unordered_streams_as_tasks_finish() -> None:
    out = Parallel(backend="dask", return_as="generator_unordered", batch_size=1)(
        delayed(t.sleep_then)(i, 1.0 if i == 0 else 0.0) for i in range(6)
    )
    first = next(out)
    assert first != 0  # the slow first task does not hold the others back
    assert sorted([first, *out]) == list(range(6))


def test_error_reraises_with_remote_traceback_and_releases_futures(client: Client) -> None:
    with pytest.raises(ValueError, match="bad value 3") as info:
        Parallel(backend="dask", batch_size=1)(
            delayed(t.fail_on)(i, 3) if i == 3 else delayed(t.sleep_then)(i, 0.2) for i in range(30)
        )
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "fail_on" in str(cause)
    # the others were cancelled and every future released, although we hold the exception
    assert wait_until_released(client) == []


def test_timeout_cancels_the_futures(client: Client) -> None:
    with pytest.raises(TimeoutError):
        Parallel(backend="dask", timeout=0.5, batch_size=1)(
            delayed(t.sleep_then)(i, 1.5 if i == 1 else 0.0) for i in range(20)
        )
    assert wait_until_released(client) == []
    assert Parallel(backend="dask")(delayed(t.square)(i) for i in range(3)) == [0, 1, 4]


def test_abandoned_generator_releases_futures(client: Client) -> None:
    out = Parallel(backend="dask", return_as="generator", batch_size=1)(
        delayed(t.sleep_then)(i, 0.1) for i in range(20)
    )
    assert next(out) == 0
    out.close()
    assert wait_until_released(client) == []


def test_keyboard_interrupt_while_producing_tasks(client: Client) -> None:
    def tasks() -> Iterator[Any]:
        for i in range(40):
            if i == 10:
                raise KeyboardInterrupt
            yield delayed(t.sleep_then)(i, 0.1)

    with pytest.raises(KeyboardInterrupt):
        Parallel(backend="dask", batch_size=1, pre_dispatch=4)(tasks())
    assert wait_until_released(client) == []


def test_ctrl_c_while_waiting(client: Client) -> None:
    main = threading.get_ident()
    timer = threading.Timer(0.5, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            Parallel(backend="dask", batch_size=1)(delayed(t.sleep_then)(i, 0.2) for i in range(40))
    finally:
        timer.cancel()
    assert wait_until_released(client) == []
    assert Parallel(backend="dask")(delayed(t.square)(i) for i in range(3)) == [0, 1, 4]


# -- dask parameters -----------------------------------------------------------------------


def test_retries(tmp_path: Any) -> None:
    marker = str(tmp_path / "attempted")
    assert Parallel(backend="dask", retries=1)([delayed(t.fail_once)(marker)]) == ["ok"]
    other = str(tmp_path / "attempted-again")
    with pytest.raises(RuntimeError, match="first attempt"):
        Parallel(backend="dask")([delayed(t.fail_once)(other)])


def test_resources_restrict_where_tasks_run() -> None:
    # the session's workers each have resources={"slot": 1}
    with parallel_config("dask", resources={"slot": 1}):
        assert Parallel()(delayed(t.square)(i) for i in range(4)) == [0, 1, 4, 9]
    with (
        parallel_config("dask", resources={"gpu": 1}),
        pytest.raises(TimeoutError),
        pytest.warns(RuntimeWarning, match="no dask worker has the resources"),
    ):
        Parallel(timeout=0.5)(delayed(t.square)(i) for i in range(2))  # no worker has one


def test_priority_and_pure_are_accepted() -> None:
    with parallel_config("dask", priority=10, pure=True):
        assert Parallel()(delayed(t.square)(i) for i in range(4)) == [0, 1, 4, 9]


def test_batch_keys_are_named_after_the_function(client: Client) -> None:
    seen: list[list[str]] = []
    out = Parallel(backend="dask", return_as="generator", batch_size=1)(
        delayed(t.sleep_then)(i, 0.2) for i in range(4)
    )
    next(out)
    seen.append(scheduler_keys(client))
    list(out)
    assert seen[0] and all(key.startswith("parjob-sleep_then-") for key in seen[0])


def test_wait_for_workers_timeout() -> None:
    empty = workerless_cluster()
    try:
        with Client(empty, set_as_default=False) as other:
            started = time.monotonic()
            with pytest.raises(TimeoutError, match="no dask worker"):
                Parallel(backend="dask", client=other, wait_for_workers_timeout=0.3)
            assert time.monotonic() - started < 30  # it gave up, it did not hang
    finally:
        empty.close()


def test_embedded_cluster_is_not_started_when_a_client_exists() -> None:
    Parallel(backend="dask")(delayed(t.square)(i) for i in range(2))
    assert cluster.embedded_cluster() is None


def test_batches_dispatched_together_reach_the_scheduler_in_one_graph_update(
    dask_cluster: LocalCluster,
) -> None:
    from distributed.diagnostics.plugin import SchedulerPlugin

    class GraphUpdates(SchedulerPlugin):
        name = "parjob-test-graph-updates"

        def __init__(self) -> None:
            self.sizes: list[int] = []

        def update_graph(self, scheduler: Any, *, tasks: list[Any], **kwargs: Any) -> None:
            self.sizes.append(sum(str(key).startswith("parjob-") for key in tasks))

    updates = GraphUpdates()
    dask_cluster.scheduler.add_plugin(updates)
    try:
        out = Parallel(backend="dask", n_jobs=2, batch_size=1)(
            delayed(t.where)(i) for i in range(8)
        )
    finally:
        dask_cluster.scheduler.remove_plugin(updates.name)
    assert len(out) == 8
    # the first wave (pre_dispatch = 4 batches) is one graph update, not four
    assert updates.sizes[0] == 4 and sum(updates.sizes) == 8


def test_large_batches_are_sent_in_groups_under_dask_s_graph_size_warning() -> None:
    from parjob_dask.backend import DaskWork
    from parjob_dask.placement import _GROUP_BYTES, groups

    works = [(DaskWork(b"x" * size, (), "f"), None) for size in (10, 10, _GROUP_BYTES, 10)]
    assert [len(group) for group in groups(works)] == [2, 1, 1]


def test_timeout_clock_does_not_run_while_batches_wait_for_a_worker_thread() -> None:
    # n_jobs=8 on 2 worker threads: with 8 batches on the cluster the last ones would wait
    # 0.9 s for a thread and "time out" after 0.1 s of work (issue 16, item 4)
    with parallel_config("dask", n_jobs=8):
        out = Parallel(timeout=1.0, batch_size=1)(delayed(sleep_then)(i, 0.3) for i in range(8))
    assert out == list(range(8))
