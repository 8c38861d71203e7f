"""Run by test_joblib_versions.py in a fresh environment holding one joblib release: the
adapter and the steering, through joblib's public API only."""

from __future__ import annotations

import sys
import traceback

import joblib
from joblib.parallel import get_active_backend

import parjob_joblib
from parjob import parallel_config


def boom(x: int) -> int:
    if x == 2:
        raise KeyError("boom")
    return x


def nested(x: int) -> int:
    return sum(joblib.Parallel(n_jobs=2)(joblib.delayed(abs)(-i) for i in range(x)))


def main() -> None:
    assert joblib.__version__ == sys.argv[1], (joblib.__version__, sys.argv[1])
    assert "parjob-threading" in parjob_joblib.register()
    before = get_active_backend()[0]
    with parallel_config("threading", n_jobs=2):
        backend, n_jobs = get_active_backend()
        assert backend.parjob_backend.name == "threading" and n_jobs == 2
        assert joblib.Parallel()(joblib.delayed(abs)(-i) for i in range(50)) == list(range(50))
        assert joblib.Parallel()(joblib.delayed(nested)(i) for i in range(4)) == [0, 0, 1, 3]
        out = joblib.Parallel(return_as="generator")(joblib.delayed(abs)(i) for i in range(5))
        assert list(out) == list(range(5))
        try:
            joblib.Parallel()(joblib.delayed(boom)(i) for i in range(4))
        except KeyError as exc:
            assert "in boom" in "".join(traceback.format_exception(exc))  # where it failed
        else:
            raise AssertionError("no error")
    assert type(get_active_backend()[0]) is type(before)
    with joblib.parallel_config("parjob-threading", n_jobs=2), joblib.Parallel() as parallel:
        assert parallel(joblib.delayed(abs)(-i) for i in range(3)) == [0, 1, 2]
        assert parallel(joblib.delayed(abs)(-i) for i in range(2)) == [0, 1]
    print("ok", joblib.__version__)


if __name__ == "__main__":
    main()
