"""The ``parjob`` command: ``parjob backends`` lists backends, ``parjob demo`` runs the demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parjob", description="Readable parallel loops.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("backends", help="list the backends found and whether they can run")
    demo = commands.add_parser("demo", help="time a representative workload on every backend")
    demo.add_argument("--backend", action="append", help="only these backends (repeatable)")
    demo.add_argument("--quick", action="store_true", help="smaller workload, for a smoke test")
    args = parser.parse_args(argv)
    if args.command == "backends":
        from parjob.report import print_backends

        return print_backends(sys.stdout)
    from parjob.demo import run_demo

    return run_demo(sys.stdout, only=args.backend, quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())
