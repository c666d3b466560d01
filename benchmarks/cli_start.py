"""How fast the command starts: `newsletter --help`, a command's --help and shell completion,
each a fresh process, against a bare `python -c pass`. Prints a table (milliseconds).

    python benchmarks/cli_start.py [--runs 30]

Run it with the venv's python (the one `newsletter` is installed in)."""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

NEWSLETTER = str(Path(sys.executable).parent / "newsletter")  # the installed entry point
CASES = {
    "python -c pass (the floor)": ([sys.executable, "-c", "pass"], {}),
    "newsletter --help": ([NEWSLETTER, "--help"], {}),
    "newsletter run --help": ([NEWSLETTER, "run", "--help"], {}),
    "completion: newsletter <TAB>": (
        [NEWSLETTER],
        {"_NEWSLETTER_COMPLETE": "bash_complete", "COMP_WORDS": "newsletter ", "COMP_CWORD": "1"},
    ),
}


def timed(command: list[str], extra_env: dict[str, str], runs: int) -> tuple[list[float], float]:
    """Wall seconds of each run, and the median CPU seconds (user + system) of one run: on a
    busy machine the CPU time is the steadier figure."""
    env = {**os.environ, **extra_env}
    seconds, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
        seconds.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return seconds, statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    print("| command | wall min ms | wall median ms | CPU median ms | runs |")
    print("|---|---|---|---|---|")
    for name, (command, env) in CASES.items():
        seconds, cpu = timed(command, env, runs)
        low, middle = min(seconds) * 1000, statistics.median(seconds) * 1000
        print(f"| {name} | {low:.0f} | {middle:.0f} | {cpu * 1000:.0f} | {runs} |")


if __name__ == "__main__":
    main()
