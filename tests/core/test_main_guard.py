"""check_main_guard: refuses top-level script code outside the guard, and nothing else.

Each case is a real script run in a fresh interpreter, as a user would run it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHECK = "from parjob.mainguard import check_main_guard\n"


def _run(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "job.py"
    script.write_text(CHECK + textwrap.dedent(source))
    command = [sys.executable, *(args or (str(script),))]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "source",
    [
        "check_main_guard('workers')\n",
        "def main():\n    check_main_guard('workers')\n\nmain()\n",
        "if True:\n    check_main_guard('workers')\n",
    ],
    ids=["top-level", "function-called-at-top-level", "other-if"],
)
def test_unguarded_top_level_is_refused_with_one_clear_error(tmp_path: Path, source: str) -> None:
    done = _run(tmp_path, source)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("parjob.mainguard.MainGuardError: workers would import your script")
    assert "job.py" in last and 'if __name__ == "__main__":' in last
    assert done.stderr.count("Traceback") == 1


@pytest.mark.parametrize(
    "source",
    [
        "if __name__ == '__main__':\n    check_main_guard('workers')\n",
        "def main():\n    check_main_guard('workers')\n\nif '__main__' == __name__:\n    main()\n",
        "import sys\nif len(sys.argv) > 0:\n    if __name__ == '__main__':\n"
        "        check_main_guard('workers')\n",
        "import threading\nt = threading.Thread(target=check_main_guard, args=('workers',))\n"
        "t.start()\nt.join()\n",
    ],
    ids=["guarded", "function-called-from-guard", "nested-guard", "from-a-thread"],
)
def test_guarded_or_not_top_level_is_accepted(tmp_path: Path, source: str) -> None:
    done = _run(tmp_path, source)
    assert done.returncode == 0, done.stderr


def test_python_dash_c_is_accepted(tmp_path: Path) -> None:
    done = _run(tmp_path, "", "-c", CHECK + "check_main_guard('workers')")
    assert done.returncode == 0, done.stderr


def test_python_dash_m_package_is_accepted(tmp_path: Path) -> None:
    package = tmp_path / "tool"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(CHECK + "check_main_guard('workers')\n")
    done = _run(tmp_path, "", "-m", "tool")
    assert done.returncode == 0, done.stderr
