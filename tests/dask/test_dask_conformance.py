"""The core's conformance suite, on the session's 2-worker LocalCluster."""

from parjob.testing import BackendConformance


class TestDaskConformance(BackendConformance):
    backend = "dask"
    # the crash test kills workers (a batch that kills workers is blamed after two rounds
    # of two deaths); on a busy machine their nannies take more than the default 10 s to
    # bring one back for the next call
    backend_params = {"wait_for_workers_timeout": 120}


class TestDaskConformanceNoAutoScatter(BackendConformance):
    """Same suite with every batch pickled whole (automatic scatter off)."""

    backend = "dask"
    backend_params = {"scatter_threshold": None}
    crash_tests = False  # killed workers restart slowly: TestDaskConformance kills them


class TestDaskConformanceOneJob(BackendConformance):
    """n_jobs=1 runs on the cluster, one batch at a time (the backend's own cap)."""

    backend = "dask"
    n_jobs = 1
    crash_tests = False  # killed workers restart slowly: TestDaskConformance kills them
