"""The benchmark cannot rot: benchmarks/run.py runs end to end at a tiny size (its figures
are not checked here; performance figures come from the script, never from tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_whole_run_benchmark_runs_at_a_tiny_size() -> None:
    tiny = ["--feeds", "16", "--entries", "3", "--latency", "0", "--on-topic", "0.5", "--json"]
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), *tiny],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    (measured,) = figures["main"]["runs"]
    first, again = measured["first"], measured["again"]
    assert first["status"] == "written" and first["articles"] > 0, first
    assert again["status"] == "nothing-new", again
    for stage in ("fetch", "parse", "store", "dedup", "summarize", "render", "write", "total"):
        assert first[stage] >= 0, stage
    assert first["rss total"] >= first["rss main"] > 0
    assert figures["main"]["parse floor"][0] > 0
    assert {row[0] for row in figures["verdicts"]} >= {"parse / feedparser floor"}
