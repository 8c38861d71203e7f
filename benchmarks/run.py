"""Run benchmark suites: each case in a fresh interpreter, cases interleaved, median of runs.

    uv run python benchmarks/run.py                 # every suite
    uv run python benchmarks/run.py core loky -r 5  # some suites, 5 runs each

Prints one markdown table per suite (columns are the cases, e.g. parjob, joblib, floor),
with ratios of parjob to each other case.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import Workload  # noqa: E402

DRIVER = textwrap.dedent(
    """
    import json, resource, sys, time
    setup, code = sys.argv[1], sys.argv[2]
    namespace = {"__name__": "__main__"}
    exec(compile(setup, "<setup>", "exec"), namespace)
    began = time.perf_counter()
    exec(compile(code, "<case>", "exec"), namespace)
    seconds = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    exec(compile(namespace.get("TEARDOWN", ""), "<teardown>", "exec"), namespace)
    print("PARJOB-BENCH " + json.dumps({"seconds": seconds, "peak_mb": peak_mb}), flush=True)
    """
)


def measure(workload: Workload, label: str) -> float:
    case = workload.case(label)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, workload.setup + "\n" + case.setup, case.code],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    for line in done.stdout.splitlines():
        if line.startswith("PARJOB-BENCH "):
            return float(json.loads(line.split(" ", 1)[1])[workload.metric])
    raise RuntimeError(f"{workload.name} / {label} failed:\n{done.stdout}\n{done.stderr}")


def run_suite(name: str, repeat: int) -> str:
    workloads = load(name)
    samples: dict[tuple[str, str], list[float]] = {}
    for round_ in range(repeat):
        for workload in workloads:
            order = list(workload.cases)
            shift = round_ % len(order)
            for label in order[shift:] + order[:shift]:  # interleaved, rotating order
                try:
                    value = measure(workload, label)
                except RuntimeError as error:  # one broken case must not lose the others
                    print(f"  {name}: {error}", file=sys.stderr)
                    continue
                samples.setdefault((workload.name, label), []).append(value)
                print(f"  {name}: {workload.name} / {label}: {value:.4g}", file=sys.stderr)
    return table(name, workloads, samples, repeat)


def load(name: str) -> list[Workload]:
    module = importlib.import_module(f"suites.{name}")
    return module.WORKLOADS  # type: ignore[no-any-return]


def table(
    name: str, workloads: list[Workload], samples: dict[tuple[str, str], list[float]], repeat: int
) -> str:
    """One suite's markdown table: medians per case, ratios of parjob to each other case."""
    labels: list[str] = []
    for workload in workloads:
        labels += [label for label in workload.cases if label not in labels]
    header = ["workload", *labels, *(f"parjob / {x}" for x in labels if x != "parjob")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for workload in workloads:
        unit = "s" if workload.metric == "seconds" else " MiB"
        medians = {
            label: statistics.median(samples[(workload.name, label)])
            for label in workload.cases
            if (workload.name, label) in samples
        }
        cells = [workload.name]
        cells += [f"{medians[x]:.3f}{unit}" if x in medians else "" for x in labels]
        for other in labels:
            if other == "parjob":
                continue
            ok = "parjob" in medians and other in medians and medians[other] > 0
            cells.append(f"{medians['parjob'] / medians[other]:.2f}" if ok else "")
        lines.append("| " + " | ".join(cells) + " |")
    targets = [f"- {w.name}: {w.target}" for w in workloads if w.target]
    body = "\n".join(lines)
    return f"### {name} (median of {repeat} runs)\n\n{body}\n\nTargets:\n" + "\n".join(targets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    available = sorted(p.stem for p in (HERE / "suites").glob("*.py") if p.stem != "__init__")
    parser.add_argument("suites", nargs="*", help=f"default: all of {', '.join(available)}")
    parser.add_argument("-r", "--repeat", type=int, default=3, help="runs per case")
    args = parser.parse_args()
    unknown = sorted(set(args.suites) - set(available))
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; available: {', '.join(available)}")
    for name in args.suites or available:  # each table as soon as its suite is done
        print(run_suite(name, args.repeat) + "\n", flush=True)


if __name__ == "__main__":
    main()
