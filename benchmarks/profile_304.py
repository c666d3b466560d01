"""cProfile of the all-304 re-run: where a day on which every feed answers 304 spends its CPU.

    python benchmarks/profile_304.py [--feeds 200] [--entries 50] [--top 35]
    python benchmarks/profile_304.py --stages 5     # no profiler: each re-run's stage times

Serves ``run.py``'s corpus on 127.0.0.1 (100 ms latency, ETags), runs the pipeline once
(everything new), then profiles the next day's run (every feed answers 304) and prints its
CPU and wall time and the profile by cumulative time. ``--stages N`` instead runs N such days
without the profiler and prints, per run, the wall time of the whole run, of the fetch, and
of the rest (config, claim, store, release).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--stages", type=int, default=0, help="N re-runs, no profiler")
    args = parser.parse_args()
    bodies = bench.corpus(args.feeds, args.entries)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "feeds").mkdir()
        for i, body in enumerate(bodies):
            (root / "feeds" / f"f{i}.xml").write_bytes(body)
        server = subprocess.Popen(
            [sys.executable, bench.__file__, "--serve", str(root / "feeds"), "0.1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            base = server.stdout.readline().strip()
            config_path = bench.project(root / "project", base, args.feeds, None)
            from newsletter.config import load_config
            from newsletter.pipeline import run

            first = run(load_config(config_path), now=bench.NOW, warn=lambda _: None)
            print(f"first run: {first.status}, {first.articles_in} articles")
            if args.stages:
                stages(config_path, args.stages)
                return
            profile = cProfile.Profile()
            cpu, wall = time.process_time(), time.perf_counter()
            profile.enable()
            again = run(
                load_config(config_path), now=bench.NOW + timedelta(days=1), warn=lambda _: None
            )
            profile.disable()
            print(
                f"all-304 re-run: {again.status}, cpu {time.process_time() - cpu:.2f} s, "
                f"wall {time.perf_counter() - wall:.2f} s (under the profiler)"
            )
            pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(timeout=30)


def stages(config_path: Path, runs: int) -> None:
    from newsletter.config import load_config
    from newsletter.pipeline import run

    print("| re-run | status | whole s | fetch s | rest s | fetch CPU s |")
    print("|---|---|---|---|---|---|")
    for n in range(1, runs + 1):
        watch = bench.CpuStopwatch()
        start = time.perf_counter()
        again = run(
            load_config(config_path),
            now=bench.NOW + timedelta(days=n),
            warn=lambda _: None,
            timings=watch,
        )
        whole = time.perf_counter() - start
        fetch = watch.seconds["fetch"]
        print(
            f"| {n} | {again.status} | {whole:.3f} | {fetch:.3f} | {whole - fetch:.3f} "
            f"| {watch.seconds['cpu fetch']:.3f} |"
        )


if __name__ == "__main__":
    main()
