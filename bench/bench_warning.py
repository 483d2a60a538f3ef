"""Benchmark: the early warning against the simulator's ground truth (`partnerops bench-warning`).

Replays a simulated year as of each of its days in a throwaway database (see
`partnerops.warning_bench`) and prints the early-warning table of docs/benchmarks.md: per
warning point (share of the window elapsed), the share of late or missed instances flagged at
risk before their due date and at least 7 days ahead, the median lead, the precision of
`at_risk`, and the recall and precision of the burn-rate alert.

Usage: python bench/bench_warning.py [--brands 40] [--scale 0.002] [--shares 0.5,0.75,0.85,0.95]
"""

from __future__ import annotations

import sys

from partnerops.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench-warning", *sys.argv[1:]]))
