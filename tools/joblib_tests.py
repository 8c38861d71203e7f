"""Run the installed joblib's own ``Parallel`` tests against parjob, and count the outcome.

    uv run python tools/joblib_tests.py [-k EXPR] [--show-failures] [extra pytest args]

Nothing is copied: pytest runs joblib's test modules from the installed wheel
(``joblib.test.test_parallel``, ``test_config``, ``test_dask``) with ``joblib.Parallel``,
``joblib.delayed``, ``joblib.parallel_config``, ... redirected to parjob's at run time
(``tools/joblib_shim.py``, installed through a temporary ``sitecustomize`` so worker
processes that import joblib's test helpers get parjob too). Tests of joblib's internals
are left out on purpose, each with the reason (``LEFT_OUT``); the script prints passed /
failed / skipped, then the left-out list.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest

TOOLS = Path(__file__).resolve().parent
MODULES = ("joblib.test.test_parallel", "joblib.test.test_config", "joblib.test.test_dask")

#: Test name patterns (``module::test`` with fnmatch wildcards, parameters included) that
#: are not about the public behaviour of Parallel, with why they are left out.
_DIFFERENCE = "a documented difference (docs/behaviour.md): "
_INTERNALS = "reads joblib's internals: "
LEFT_OUT: dict[str, str] = {
    # -- documented differences ----------------------------------------------------------
    "test_parallel.py::test_effective_n_jobs_None[[]None-*": _DIFFERENCE
    + "a config block that names a backend with n_jobs=None uses all its workers",
    "test_parallel.py::test_nested_parallel_warnings[[]loky-multiprocessing-*": _DIFFERENCE
    + "parjob starts a nested process pool inside loky workers, where it works",
    "test_parallel.py::test_nested_parallel_warnings[[]threading-*": _DIFFERENCE
    + "parjob starts a process pool from a thread, where it works",
    "test_parallel.py::test_njobs_converted_to_int*": _DIFFERENCE
    + "n_jobs must be an int; joblib truncates '2' and 2.3 to 2",
    "test_parallel.py::test_invalid_njobs*": _DIFFERENCE
    + "n_jobs=0.5 and '2.3' are a TypeError (not an int), not joblib's ValueError; "
    + "also calls the private Parallel._initialize_backend",
    # -- joblib internals ----------------------------------------------------------------
    "test_parallel.py::test_error_capture*": _INTERNALS
    + "the backends' private _pool/_workers attributes (the error checks themselves are "
    + "covered by parjob's conformance suite)",
    "test_parallel.py::test_batching_auto_*": _INTERNALS
    + "Backend.compute_batch_size, joblib's batching state",
    "test_parallel.py::test_default_mp_context": _INTERNALS + "Parallel._backend_kwargs",
    "test_parallel.py::test_multiple_generator_call_separated_gc*": _INTERNALS
    + "Parallel._aborting; for loky it expects joblib's limitation that a second call fails "
    + "while a dropped generator shuts the shared pool down (parjob runs both)",
    "test_parallel.py::test_nested_backend_context_manager[[]*-threading]": _DIFFERENCE
    + "Parallel calls inside a thread worker run inline (sequential), not on threads",
    "test_parallel.py::test_nested_parallelism_limit[[]*-threading]": _DIFFERENCE
    + "Parallel calls inside a thread worker run inline (sequential), not on threads",
    "test_parallel.py::test_backend_hinting_and_constraints[[]*": _DIFFERENCE
    + "Parallel(n_jobs=1) without a backend runs inline on 'sequential' (no plugin lookup), "
    + "and require='sharedmem' keeps a block's n_jobs for the threads it switches to",
    "test_parallel.py::test_thread_bomb_mitigation[[]loky-*": "pending (errors.py, the "
    + "lead's): a RecursionError from a process worker comes back as a RuntimeError, as "
    + "the exception fails parjob's pickling check",
    "test_parallel.py::test_parameterized_backend_context_manager*": _INTERNALS
    + "expects Parallel() to reuse the very instance joblib's private get_active_backend "
    + "made (parjob makes one per Parallel from the block's name and parameters)",
    "test_parallel.py::test_retrieval_context*": _INTERNALS
    + "joblib's backend API (retrieval_context, supports_retrieve_callback)",
    "test_parallel.py::test_backend_hinting_and_constraints_with_custom_backends*": _INTERNALS
    + "backends written to joblib's ParallelBackendBase API (parjob has its own contract)",
    "test_parallel.py::test_zero_worker_backend*": _INTERNALS
    + "joblib's backend API (configure returning 0 workers)",
    "test_parallel.py::test_backend_batch_statistics_reset*": _INTERNALS
    + "the backends' private batching statistics",
    "test_parallel.py::test_initializer_*": "initializer=/initargs= (joblib 1.5) belong to "
    + "the worker-environment issue, not issue 17",
    "test_config.py::test_global_parallel_backend*": _DIFFERENCE
    + "a config block takes effect on `with`, not when created; no unregister()",
    "test_config.py::test_external_backends*": _INTERNALS
    + "joblib's EXTERNAL_BACKENDS table (parjob finds backends as plugins)",
    "test_config.py::test_parallel_config_constructor_params": _DIFFERENCE
    + "parallel_config takes inner_max_num_threads and backend parameters without a backend "
    + "(they apply to the backend that runs); parameters with a backend instance are "
    + "refused when a Parallel is made",
    "test_config.py::test_threadpool_limitation_in_child_context_error*": _DIFFERENCE
    + "the multiprocessing backend honours inner_max_num_threads (joblib asserts it does "
    + "not) and threads accept it",
    "test_config.py::test_parallel_config_n_jobs_none*": _DIFFERENCE
    + "a config block that names a backend with n_jobs=None uses all its workers",
    "test_dask.py::test_dask_backend_uses_autobatching": _INTERNALS
    + "joblib's AutoBatchingMixin and batch-size attributes",
    "test_dask.py::test_dask_funcname*": _INTERNALS + "joblib._dask.Batch and its repr",
    "test_dask.py::test_nested_parallelism_with_dask*": _INTERNALS
    + "the backend's class name (DaskDistributedBackend; parjob's is DaskBackend)",
    "test_dask.py::test_nested_backend_context_manager_implicit_n_jobs": _INTERNALS
    + "the backend's class name (DaskDistributedBackend; parjob's is DaskBackend)",
    "test_dask.py::test_auto_scatter": _DIFFERENCE
    + "parjob-dask memory-maps large arrays for workers on this machine instead of "
    + "scattering them, so dask logs no scatter event",
    "test_dask.py::test_manual_scatter": _DIFFERENCE
    + "parjob pickles each scattered object once (dask's client.scatter(broadcast=True), "
    + "which the test compares with, three times); the test asserts the counts are equal",
    "test_dask.py::test_correct_nested_backend": _DIFFERENCE
    + "Parallel calls inside a thread worker run inline (sequential), not on threads",
    "test_dask.py::test_wait_for_workers_timeout": _INTERNALS
    + "matches the message on joblib's class name (DaskDistributedBackend); parjob's "
    + "message names the scheduler and wait_for_workers_timeout",
    "test_dask.py::test_errors": _DIFFERENCE
    + "the dask backend with no client starts an embedded LocalCluster (joblib raises)",
    "test_dask.py::test_no_undesired_distributed_cache_hit": _DIFFERENCE
    + "parjob-dask memory-maps large arrays for workers on this machine instead of "
    + "scattering them, so dask logs no scatter event",
}


def reason_left_out(nodeid: str) -> str | None:
    """Why the test ``nodeid`` is left out, or None when it runs."""
    short = nodeid.split("/")[-1]
    for pattern, why in LEFT_OUT.items():
        if fnmatch.fnmatchcase(short, pattern):
            return why
    return None


# -- the pytest plugin (this module, loaded in the pytest process with -p) --------------
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Leave out the tests of ``LEFT_OUT`` (after ``-k``, so the count is of those run)."""
    kept, dropped = [], []
    for item in items:
        (dropped if reason_left_out(item.nodeid) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    record = os.environ.get(_LEFT_OUT_RECORD)
    if record:
        Path(record).write_text("".join(f"{item.nodeid}\n" for item in dropped))


#: where the plugin writes the ids of the tests it left out (for the runner's count)
_LEFT_OUT_RECORD = "PARJOB_JOBLIB_TESTS_LEFT_OUT"
_INI = """[pytest]
markers =
    thread_unsafe: joblib's marker
    no_cover: joblib's marker
"""


# -- the runner ------------------------------------------------------------------------
def _sitecustomize(folder: Path) -> None:
    (folder / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(TOOLS)!r})\n"
        "import joblib_shim\njoblib_shim.install()\n"
    )


def _outcomes(report: Path) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {"passed": [], "failed": [], "skipped": []}
    for case in ElementTree.parse(report).iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}.py::{case.get('name')}"
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            found["failed"].append((name, (failure.get("message") or "")[:200]))
        elif skipped is not None:
            found["skipped"].append((name, (skipped.get("message") or "")[:120]))
        else:
            found["passed"].append((name, ""))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-failures", action="store_true", help="list each failure")
    parser.add_argument("--show-skips", action="store_true", help="list each skip")
    args, extra = parser.parse_known_args(argv)
    with tempfile.TemporaryDirectory(prefix="parjob-joblib-tests-") as tmp:
        folder = Path(tmp)
        _sitecustomize(folder)
        (folder / "pytest.ini").write_text(_INI)
        report = folder / "report.xml"
        env = dict(os.environ)
        env[_LEFT_OUT_RECORD] = str(folder / "left_out.txt")
        env["PYTHONPATH"] = os.pathsep.join(
            [str(folder), str(TOOLS), *filter(None, [env.get("PYTHONPATH")])]
        )
        # nodeids relative to site-packages: "joblib/test/test_parallel.py::test_x[...]"
        spec = importlib.util.find_spec("joblib")
        assert spec is not None and spec.submodule_search_locations, "joblib is not installed"
        site = Path(next(iter(spec.submodule_search_locations))).parent
        command = [
            sys.executable, "-m", "pytest", "--pyargs", *MODULES,
            "-p", "joblib_tests", "-p", "distributed.utils_test", "-p", "no:cacheprovider",
            "-c", str(folder / "pytest.ini"), "--rootdir", str(site),
            "--timeout", "120", "-q", "--no-header", "-rN", f"--junitxml={report}", *extra,
        ]  # fmt: skip
        subprocess.run(command, env=env, cwd=folder, check=False)
        if not report.exists():
            print("pytest wrote no report", file=sys.stderr)
            return 2
        found = _outcomes(report)
        left_out_file = folder / "left_out.txt"
        left_out = len(left_out_file.read_text().split()) if left_out_file.exists() else 0
    print("\njoblib's Parallel tests against parjob")
    for outcome in ("passed", "failed", "skipped"):
        print(f"  {outcome:8} {len(found[outcome])}")
    if args.show_failures and found["failed"]:
        print("\nfailed:")
        for name, message in found["failed"]:
            print(f"  {name}: {message}")
    if args.show_skips and found["skipped"]:
        print("\nskipped by joblib's own conditions:")
        for name, message in found["skipped"]:
            print(f"  {name}: {message}")
    print(f"  left out {left_out} (on purpose, {len(LEFT_OUT)} patterns below)")
    print(f"\nleft out on purpose ({len(LEFT_OUT)} patterns):")
    for pattern, why in LEFT_OUT.items():
        print(f"  {pattern}: {why}")
    return 1 if found["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
