"""`python -m faults [--scenario NAME ...] [--profile full|ci] [--report PATH]` (what `make faults` runs)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from faults.run import main


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    parser.add_argument("--scenario", action="append", default=[], help="run only this one (repeatable, or a,b)")
    parser.add_argument("--profile", choices=("full", "ci"), default="full", help="ci: shorter workloads")
    parser.add_argument("--report", type=Path, default=None, help="write the Markdown report here")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse(sys.argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    names = [name for value in args.scenario for name in value.split(",") if name]
    sys.exit(main(names, args.profile, args.report))
