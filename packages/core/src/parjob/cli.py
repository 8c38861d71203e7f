"""The ``parjob`` command: ``parjob backends`` lists backends, ``parjob demo`` runs the demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parjob", description="Readable parallel loops.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("backends", help="list the backends found and whether they can run")
    demo = commands.add_parser("demo", help="time a representative workload on every backend")
    demo.add_argument("--backend", action="append", help="only these backends (repeatable)")
    demo.add_argument("--quick", action="store_true", help="smaller workload, for a smoke test")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.add_argument(
        "--timeline",
        metavar="PATH",
        type=Path,
        help="save a picture of when each batch ran where (e.g. timeline.png)",
    )
    demo.add_argument(
        "--timeline-backend",
        metavar="NAME",
        help="the backend whose timeline is saved (default: the default backend)",
    )
    args = parser.parse_args(argv)
    if args.command == "backends":
        from parjob.report import print_backends

        return print_backends(sys.stdout)
    from parjob.demo import run_demo

    return run_demo(
        sys.stdout,
        only=args.backend,
        quick=args.quick,
        progress=not args.no_progress,
        timeline=args.timeline,
        timeline_backend=args.timeline_backend,
    )


if __name__ == "__main__":
    sys.exit(main())
