"""Where the test suite spends its time: per-file totals of a pytest ``--durations=0`` report.

    .venv/bin/pytest --durations=0 -p no:randomly -q > durations.txt
    python benchmarks/suite_durations.py durations.txt [--top 25]

Prints a table: worker seconds (setup + call + teardown) per test file, largest first, then the
sum. Under ``-n 2`` the suite's wall time is roughly that sum over two, plus the tail.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

LINE = re.compile(r"\s*([\d.]+)s (?:call|setup|teardown)\s+(tests/[^:]+)::")


def per_file(report: str) -> Counter[str]:
    totals: Counter[str] = Counter()
    for line in report.splitlines():
        found = LINE.match(line)
        if found:
            totals[found.group(2)] += float(found.group(1))
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="pytest output with --durations=0")
    parser.add_argument("--top", type=int, default=25)
    options = parser.parse_args()
    totals = per_file(options.report.read_text(encoding="utf-8", errors="replace"))
    if not totals:
        raise SystemExit(f"{options.report}: no durations found; run pytest with --durations=0")
    print(f"{'seconds':>8}  file")
    for name, seconds in totals.most_common(options.top):
        print(f"{seconds:8.1f}  {name}")
    print(f"{sum(totals.values()):8.1f}  all {len(totals)} files (worker seconds)")


if __name__ == "__main__":
    main()
