"""The built-in backends pass the conformance suite every backend runs."""

from parjob.testing import BackendConformance


class TestSequential(BackendConformance):
    backend = "sequential"
    supports_timeout = False


class TestThreading(BackendConformance):
    backend = "threading"


class TestThreadingFourWorkers(BackendConformance):
    backend = "threading"
    n_jobs = 4
