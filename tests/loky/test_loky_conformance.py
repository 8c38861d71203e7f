"""The process backends pass the conformance suite every backend runs."""

from parjob.testing import BackendConformance


class TestLoky(BackendConformance):
    backend = "loky"


class TestMultiprocessing(BackendConformance):
    backend = "multiprocessing"
