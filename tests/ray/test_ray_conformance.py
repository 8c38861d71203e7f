"""The core's conformance suite on a real local Ray."""

from parjob.testing import BackendConformance


class TestRayConformance(BackendConformance):
    backend = "ray"
