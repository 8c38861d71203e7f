"""The adapter against each joblib release parjob-joblib declares (``joblib>=1.4,<1.7``),
each in a fresh environment with only parjob, parjob-joblib and that joblib installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: the newest release of each minor version in the declared range
VERSIONS = ["1.4.2", "1.5.3", "1.6.0"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv to make the environments")
@pytest.mark.parametrize("version", VERSIONS)
def test_the_adapter_on_joblib(version: str, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    run = {"check": True, "capture_output": True, "text": True, "timeout": 240}
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(venv)], **run)
    packages = [str(ROOT / "packages" / name) for name in ("core", "joblib-bridge")]
    subprocess.run(
        ["uv", "pip", "install", "-q", "--python", str(python), f"joblib=={version}", *packages],
        **run,
    )
    script = Path(__file__).with_name("bridge_joblib_version_check.py")
    done = subprocess.run([str(python), str(script), version], **{**run, "check": False})
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"ok {version}"
