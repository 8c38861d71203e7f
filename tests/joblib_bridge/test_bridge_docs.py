"""The examples of docs/scikit-learn.md run as printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "scikit-learn.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


@pytest.mark.parametrize("source", EXAMPLES, ids=[f"example {i}" for i in range(len(EXAMPLES))])
def test_example_runs(source: str, dask_cluster: object) -> None:
    exec(compile(source, str(DOC), "exec"), {"__name__": "__main__"})
