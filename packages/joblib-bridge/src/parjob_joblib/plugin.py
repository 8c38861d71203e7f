"""The ``parjob`` entry point of parjob-joblib: steer joblib in every config block.

Loading it imports nothing heavy: joblib is imported when the first block is entered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from parjob import hookimpl


@hookimpl
def parallel_config_entered(
    settings: Mapping[str, Any], block: Mapping[str, Any]
) -> Callable[[], None] | None:
    from parjob_joblib import steering

    return steering.enter(settings, block)
