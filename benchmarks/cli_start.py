"""How fast the command starts: `newsletter --help`, a command's --help and shell completion,
each a fresh process, against a bare `python -c pass` and `python -c "import click"` (the floor
of any click command). Prints a table (milliseconds).

    python benchmarks/cli_start.py [--runs 30] [--before OLD_CHECKOUT/src] [--instructions]

Run it with the venv's python (the one `newsletter` is installed in). With --before, each
command also runs with PYTHONPATH=OLD_CHECKOUT/src (an older tree, bytecode compiled), one run
of each case after the other, so a change of load on a shared machine hits both alike. With
--instructions, each case runs once under valgrind (callgrind) instead and the table gives the
instructions it executed, in millions: a count no load changes."""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

NEWSLETTER = str(Path(sys.executable).parent / "newsletter")  # the installed entry point
COMPLETE = {"_NEWSLETTER_COMPLETE": "bash_complete", "COMP_WORDS": "newsletter ", "COMP_CWORD": "1"}
FLOORS = {
    "python -c pass (the floor)": ([sys.executable, "-c", "pass"], {}),
    "python -c 'import click'": ([sys.executable, "-c", "import click"], {}),
}
CASES = {
    "newsletter --help": ([NEWSLETTER, "--help"], {}),
    "newsletter run --help": ([NEWSLETTER, "run", "--help"], {}),
    "completion: newsletter <TAB>": ([NEWSLETTER], COMPLETE),
}


def once(command: list[str], extra_env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run: on a busy machine the CPU time
    is the steadier figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env={**os.environ, **extra_env}, stdout=subprocess.DEVNULL, check=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def instructions(command: list[str], extra_env: dict[str, str]) -> float:
    """Millions of instructions one run executes (valgrind's callgrind, hash seed fixed)."""
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    if command[0] == NEWSLETTER:  # the entry point is a script: valgrind runs its python
        command = [sys.executable, *command]
    done = subprocess.run(
        [*valgrind, *command],
        env={**os.environ, **extra_env, "PYTHONHASHSEED": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    assert found, done.stderr
    return int(found.group(1).replace(",", "")) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--before", type=Path, help="an older tree's src/ to compare with")
    parser.add_argument("--instructions", action="store_true", help="count, under valgrind")
    options = parser.parse_args()
    cases = {**FLOORS, **CASES}
    if options.before is not None:
        older = {"PYTHONPATH": str(options.before.resolve())}
        cases |= {f"before: {name}": (cmd, {**env, **older}) for name, (cmd, env) in CASES.items()}
    if options.instructions:
        print("| command | instructions (millions) |")
        print("|---|---|")
        for name, (command, env) in cases.items():
            print(f"| {name} | {instructions(command, env):.1f} |")
        return
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(options.runs):
        for name, (command, env) in cases.items():
            seconds, used = once(command, env)
            wall[name].append(seconds)
            cpu[name].append(used)
    print("| command | wall min ms | wall median ms | CPU median ms | runs |")
    print("|---|---|---|---|---|")
    for name in cases:
        low, middle = min(wall[name]) * 1000, statistics.median(wall[name]) * 1000
        used = statistics.median(cpu[name]) * 1000
        print(f"| {name} | {low:.0f} | {middle:.0f} | {used:.0f} | {options.runs} |")


if __name__ == "__main__":
    main()
