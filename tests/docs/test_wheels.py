"""The packages install and work on their own, from their wheels, outside the workspace.

Every package's wheel is built (``uv build --all-packages``), then the core, parjob-loky and
the plugin template go into a fresh virtual environment (their dependencies from the package
index), where a ``Parallel`` call runs on loky and the template's own tests pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from doc_blocks import DOCS, ROOT

pytestmark = pytest.mark.slow

UV = shutil.which("uv")

CALL = """
import parjob
from parjob import Parallel, delayed

parallel = Parallel(n_jobs=2)
assert parallel.backend.name == "loky", parallel.backend.name
assert parallel(delayed(pow)(i, 2) for i in range(10)) == [i * i for i in range(10)]
print(parjob.__file__)
"""


def _run(command: list[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.mark.skipif(UV is None, reason="needs uv on the PATH")
def test_wheels_install_and_run_in_a_fresh_venv(tmp_path: Path) -> None:
    assert UV is not None
    dist = tmp_path / "dist"
    _run([UV, "build", "--all-packages", "--wheel", "-o", str(dist)], ROOT)
    _run([UV, "build", "--wheel", "-o", str(dist), str(DOCS / "plugin-template")], ROOT)
    wheels = {path.name.split("-")[0]: path for path in dist.glob("*.whl")}
    assert {"parjob", "parjob_loky", "parjob_dask", "parjob_ray", "parjob_spark"} <= set(wheels)

    venv = tmp_path / "venv"
    _run([UV, "venv", "--python", sys.executable, str(venv)], tmp_path)
    python = venv / "bin" / "python"
    picked = [str(wheels[name]) for name in ("parjob", "parjob_loky", "parjob_example")]
    _run([UV, "pip", "install", "--python", str(python), *picked, "pytest"], tmp_path)

    where = _run([str(python), "-c", CALL], tmp_path)
    assert str(venv) in where  # the installed wheel, not the workspace's sources
    listed = _run([str(venv / "bin" / "parjob"), "backends"], tmp_path)
    assert "parjob-loky" in listed and "parjob-example" in listed

    tests = tmp_path / "template-tests"
    shutil.copytree(DOCS / "plugin-template" / "tests", tests)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)], tmp_path)
