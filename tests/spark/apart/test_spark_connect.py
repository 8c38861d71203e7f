"""parjob on Spark Connect (a local Connect server), run by test_spark_subprocess.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import spark_tasks
from conftest import SUBPROCESS

from parjob import Parallel, delayed, parallel_config
from parjob.testing import BackendConformance, CustomError, raise_custom
from parjob_spark import session as sessions
from parjob_spark.backend import SparkBackend

pytestmark = pytest.mark.skipif(SUBPROCESS != "connect", reason="runs in a subprocess")


@pytest.fixture(autouse=True)
def _session(spark: Any) -> None:
    assert sessions.is_connect(spark)


class TestSparkConnectConformance(BackendConformance):
    backend = "spark"


def test_n_jobs_minus_one_is_the_default_parallelism(spark: Any) -> None:
    assert SparkBackend().effective_n_jobs(-1) == 2


def test_large_array_travels_once_as_an_artifact(spark: Any) -> None:
    X = np.arange(1_000_000, dtype=np.float64)
    out = Parallel(backend="spark", batch_size=4)(
        delayed(spark_tasks.first_value)(X, i) for i in range(20)
    )
    assert out == [float(i) for i in range(20)]


def test_user_exception_type_and_session_usable(spark: Any) -> None:
    with pytest.raises(CustomError) as info:
        Parallel(backend="spark")(delayed(raise_custom)(i) for i in [7])
    assert info.value.code == 7
    assert spark.range(3).count() == 3


def test_pool_is_refused_clearly(spark: Any) -> None:
    with pytest.raises(ValueError, match="scheduler pools"), parallel_config("spark", pool="p"):
        Parallel()(delayed(abs)(i) for i in range(3))
