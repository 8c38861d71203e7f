"""One backend instance configured for calls that run at the same time."""

from __future__ import annotations

import threading

from parjob import Backend, Parallel, RunSettings, delayed, parallel_config
from parjob.backends.threads import ThreadingBackend
from parjob.testing import sleep_then, square


class Counted(ThreadingBackend):
    """Threads, counting the instances made and refusing a second call at once."""

    made = 0

    def __init__(self, label: str = "x") -> None:
        super().__init__()
        type(self).made += 1
        self.label = label
        self.owner: int | None = None  # the thread whose call (or block) runs on it

    def start(self, n_jobs, settings):  # type: ignore[no-untyped-def]
        me = threading.get_ident()
        assert self.owner in (None, me), "two calls at once on one instance"
        self.owner = me
        super().start(n_jobs, settings)

    def stop(self) -> None:
        self.owner = None
        super().stop()


def test_fresh_makes_a_twin_with_the_same_arguments() -> None:
    original = Counted(label="mine")
    twin = original.fresh()
    assert type(twin) is Counted and twin is not original and twin.label == "mine"


def test_a_busy_instance_lends_a_twin_to_a_concurrent_call() -> None:
    instance = Counted(label="shared")
    Counted.made = 0
    started = threading.Event()

    def slow() -> list[int]:
        with parallel_config(instance, n_jobs=2):
            return Parallel()(delayed(sleep_then)(i, 0.2 if i == 0 else 0) for i in range(4))

    def signal_then_sleep(i: int) -> int:
        started.set()
        return sleep_then(i, 0.3)

    results: list[list[int]] = []
    with parallel_config(instance, n_jobs=2):
        thread = threading.Thread(target=lambda: results.append(slow()))
        out = Parallel(return_as="generator")(delayed(signal_then_sleep)(i) for i in range(2))
        assert started.wait(30)
        thread.start()  # the instance is running the generator's call: a twin serves this
        thread.join(60)
        assert list(out) == [0, 1]
    assert results == [[0, 1, 2, 3]] and Counted.made == 1
    # the instance is free again: the next call runs on it, no twin
    with parallel_config(instance, n_jobs=2):
        assert Parallel()(delayed(square)(i) for i in range(3)) == [0, 1, 4]
    assert Counted.made == 1


def test_a_with_block_holds_its_instance_for_the_whole_block() -> None:
    instance = Counted()
    Counted.made = 0
    with Parallel(n_jobs=2, backend=instance) as parallel:
        assert parallel(delayed(square)(i) for i in range(3)) == [0, 1, 4]
        other: list[list[int]] = []
        thread = threading.Thread(
            target=lambda: other.append(
                Parallel(n_jobs=2, backend=instance)(delayed(square)(i) for i in range(3))
            )
        )
        thread.start()
        thread.join(60)
        assert other == [[0, 1, 4]] and Counted.made == 1
        assert parallel(delayed(square)(i) for i in range(3)) == [0, 1, 4]
    assert instance.owner is None


def test_backend_base_class_records_arguments_of_subclasses() -> None:
    class WithArgs(Backend):
        name = "with-args"

        def __init__(self, a: int, *, b: str = "") -> None:
            self.a, self.b = a, b

    twin = WithArgs(1, b="two").fresh()
    assert (twin.a, twin.b) == (1, "two")


def test_an_instance_pickles_as_its_class_and_arguments() -> None:
    import pickle

    original = Counted(label="sent")
    original.start(2, RunSettings())  # per-call state (a thread pool) does not travel
    try:
        copy = pickle.loads(pickle.dumps(original))
    finally:
        original.stop()
    assert type(copy) is Counted and copy.label == "sent" and copy._executor is None
