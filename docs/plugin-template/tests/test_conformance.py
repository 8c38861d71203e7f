"""The conformance suite every parjob backend passes, run on ``example``."""

from parjob import Parallel, delayed, parallel_config
from parjob.testing import BackendConformance


class TestExampleBackend(BackendConformance):
    backend = "example"


def test_found_through_its_entry_point() -> None:
    import parjob

    assert "example" in parjob.list_backends()


def test_parameter_reaches_the_backend() -> None:
    with parallel_config("example", thread_name_prefix="mine"):
        parallel = Parallel(n_jobs=2)
        assert parallel.backend.thread_name_prefix == "mine"
        assert parallel(delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]
