"""Run every benchmark, one after the other, then rebuild bench/RESULTS.md (``make bench``).

Usage: python -m bench [--only inventory|nantong|families|unseen|solomon|readiness|exchange|
       load|disaster_day|fuzz ...] [--runs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench import report

BENCHMARKS = {
    "inventory": ["bench.inventory"],
    "nantong": ["bench.nantong"],
    # the held-out half only: the tune half is for tuning (python -m bench.families)
    "families": ["bench.families", "--split", "held_out"],
    # days no tuning has used, each solved twice in two processes
    "unseen": ["bench.unseen"],
    "solomon": ["bench.solomon", "--out", "bench/results/solomon.md"],
    "readiness": ["bench.readiness"],
    "exchange": ["bench.exchange"],
    "load": ["bench.load"],
    "disaster_day": ["bench.disaster_day"],
    # schemathesis over every operation, 300 s per database (bench/results/fuzz.md)
    "fuzz": ["bench.fuzz", "--label", "after"],
}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks sequentially (they must not compete for the 2 cores)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), default=[])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (medians)")
    args = parser.parse_args(argv)
    for name in args.only or list(BENCHMARKS):
        command = [sys.executable, "-m", *BENCHMARKS[name], "--runs", str(args.runs)]
        print("$", " ".join(command[1:]), flush=True)
        status = subprocess.run(command).returncode
        if status:
            print(f"benchmark {name} failed with exit status {status}", file=sys.stderr)
            return status
    report.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
