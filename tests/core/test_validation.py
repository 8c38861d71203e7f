"""Bad input is refused before any work starts, with the bad value and what is accepted."""

from __future__ import annotations

import pytest

from parjob import Parallel, delayed
from parjob.testing import square
from parjob.validation import parse_nbytes, parse_pre_dispatch


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"n_jobs": 0}, "n_jobs == 0"),
        ({"n_jobs": 1.5}, "1.5"),
        ({"n_jobs": "2"}, "'2'"),
        ({"return_as": "tuple"}, "'tuple'.*|.*'generator_unordered'"),
        ({"verbose": -1}, "-1"),
        ({"timeout": -3}, "-3"),
        ({"timeout": "soon"}, "'soon'"),
        ({"batch_size": 0}, "batch_size.*0"),
        ({"batch_size": "big"}, "'big'"),
        ({"prefer": "gpu"}, "'gpu'"),
        ({"require": "memory"}, "'memory'"),
        ({"mmap_mode": "x"}, "'x'"),
        ({"max_nbytes": "lots"}, "'lots'"),
        ({"pre_dispatch": "__import__('os').system('true')"}, "pre_dispatch"),
        ({"pre_dispatch": "n_jobs - 10"}, "need >= 1"),
        ({"backend": 3}, "backend name"),
    ],
)
def test_bad_parameters(kwargs: dict, pattern: str) -> None:
    with pytest.raises((ValueError, TypeError), match=pattern):
        Parallel(**kwargs)


def test_non_iterable_input() -> None:
    with pytest.raises(TypeError, match="iterable of delayed"):
        Parallel(n_jobs=2, backend="threading")(42)  # type: ignore[arg-type]


def test_task_that_is_not_delayed_names_itself() -> None:
    with pytest.raises(TypeError, match=r"delayed.*got <function square"):
        Parallel(n_jobs=1)([square])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("text", "n_jobs", "expected"),
    [
        ("all", 4, None),
        (7, 4, 7),
        ("2*n_jobs", 4, 8),
        ("2 * n_jobs", 3, 6),
        ("1.5*n_jobs", 2, 3),
        ("n_jobs + 1", 2, 3),
        ("n_jobs // 2", 4, 2),
        ("3", 1, 3),
    ],
)
def test_pre_dispatch_expressions(text: object, n_jobs: int, expected: int | None) -> None:
    assert parse_pre_dispatch(text, n_jobs) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        (0, 0),
        (1000, 1000),
        ("1M", 1024**2),
        ("500k", 500 * 1024),
        ("2G", 2 * 1024**3),
        ("10", 10),
        ("1.5M", int(1.5 * 1024**2)),
        ("3 MB", 3 * 1024**2),
    ],
)
def test_max_nbytes_forms(text: object, expected: int | None) -> None:
    assert parse_nbytes(text) == expected


def test_nothing_runs_when_parameters_are_bad() -> None:
    ran: list[int] = []

    def tasks():  # type: ignore[no-untyped-def]
        ran.append(1)
        yield delayed(square)(1)

    with pytest.raises(ValueError):
        Parallel(n_jobs=2, timeout=0)(tasks())
    assert ran == []
