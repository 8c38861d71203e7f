"""cpu_count honours affinity, cgroup quotas and the env cap, and never fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from parjob import cpu_count, effective_n_jobs, parallel_config
from parjob.cpu import _cgroup_limit_at


def test_cpu_count_matches_affinity() -> None:
    assert 1 <= cpu_count() <= len(os.sched_getaffinity(0))
    assert 1 <= cpu_count(only_physical_cores=True) <= cpu_count()


def test_env_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARJOB_MAX_CPU_COUNT", "1")
    assert cpu_count() == 1
    monkeypatch.setenv("PARJOB_MAX_CPU_COUNT", "junk")
    assert cpu_count() >= 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("max 100000\n", None),
        ("150000 100000\n", 2),
        ("50000 100000", 1),
        ("", None),
        ("garbage", None),
    ],
)
def test_cgroup_v2(tmp_path: Path, content: str, expected: int | None) -> None:
    (tmp_path / "cpu.max").write_text(content)
    assert _cgroup_limit_at(tmp_path) == expected


def test_cgroup_v1(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert _cgroup_limit_at(tmp_path) == 3
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert _cgroup_limit_at(tmp_path) is None


def test_missing_cgroup_files(tmp_path: Path) -> None:
    assert _cgroup_limit_at(tmp_path) is None


def test_effective_n_jobs_rules() -> None:
    n = cpu_count()
    with parallel_config("threading"):
        assert effective_n_jobs(-1) == n
        assert effective_n_jobs(-2) == max(n - 1, 1)
        assert effective_n_jobs(-(n + 10)) == 1
        assert effective_n_jobs(3) == 3
    with pytest.raises(ValueError):
        effective_n_jobs(0)
