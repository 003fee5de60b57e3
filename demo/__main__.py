"""python -m demo [--scale full|smoke] [--out DIR]"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from demo.run import run
from demo.scale import SCALES
from tests.service import REPO


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Run the service through a database incident and write a report.")
    parser.add_argument("--scale", choices=sorted(SCALES), default="full",
                        help="full: about 5 minutes; smoke: seconds (the test suite's)")
    parser.add_argument("--out", type=Path, default=REPO / "demo-report",
                        help="the report folder (default: demo-report/)")
    parser.add_argument("--deadline", type=float, metavar="SECONDS",
                        help="stop and fail past this (default: 420 full, 110 smoke)")
    args = parser.parse_args()
    scale = SCALES[args.scale]
    if args.deadline:
        scale = dataclasses.replace(scale, deadline=args.deadline)
    return run(scale, args.out)


if __name__ == "__main__":
    sys.exit(main())
