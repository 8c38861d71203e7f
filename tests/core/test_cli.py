"""The parjob command: backends listing and the demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from parjob.cli import main


def test_backends_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "sequential" in out and "threading" in out and "runs here" in out


def test_demo_runs_and_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--quick", "--backend", "threading"]) == 0
    out = capsys.readouterr().out
    assert "sequential" in out and "threading" in out
    assert "CPU-bound" in out and "tiny tasks" in out and "x" in out


def test_console_script_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "parjob.cli", "backends"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "threading" in done.stdout


def test_demo_speed_ups_are_against_sequential(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--quick", "--backend", "threading", "--backend", "sequential"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith(("sequential", "threading"))]
    assert rows[0].startswith("sequential") and rows[0].count("1.00x") == 2


def test_demo_with_only_the_core_names_the_plugins() -> None:
    import os

    env = {**os.environ, "PARJOB_LOAD_PLUGINS": ""}
    done = subprocess.run(
        [sys.executable, "-m", "parjob.cli", "demo", "--quick"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "threading" in done.stdout and "sequential" in done.stdout
    assert 'pip install "parjob[loky]"' in done.stdout
    assert 'pip install "parjob[dask]"' in done.stdout


def test_demo_saves_a_timeline_and_shows_bars(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    picture = tmp_path / "timeline.png"
    argv = ["demo", "--quick", "--backend", "threading", "--timeline", str(picture)]
    assert main([*argv, "--timeline-backend", "threading"]) == 0
    captured = capsys.readouterr()
    assert picture.stat().st_size > 1000
    assert f"timeline saved to {picture}" in captured.out
    assert "workers busy" in captured.out and "slowest tasks:" in captured.out
    assert "5000/5000" in captured.err  # the bars, on stderr
