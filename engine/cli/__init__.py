"""python -m engine: the command line (bench now; demo and ingest come with the main-job issue)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _bench(args, rest) -> int:
    root = Path(__file__).resolve().parent.parent
    if not (root / "bench" / "report.py").exists():
        print("engine bench: bench/ not found; run it from a source checkout of engine", file=sys.stderr)
        return 2
    sys.path.insert(0, str(root))
    from bench import report

    return report.main(rest)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="engine", description="Local, high-throughput AWS messaging services.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("bench", help="run the benchmarks and write a report (see `engine bench --help`)",
                        add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        return _bench(args, rest)
    parser.print_help()
    return 0 if args.command is None else 2


if __name__ == "__main__":
    sys.exit(main())
