"""How late does `newsletter schedule` make each slot's issue, and how fast does it start/stop?

Runs the real daemon (a subprocess) on a temporary copy of the project with a schedule every
two seconds and `skip_when_nothing_new = false`, so every slot writes an issue (the first from
the founding seed, the rest empty: the seed is already published), then reads the run log.
Prints: start-up time (process start to "next slot" logged), the delay from each slot's fire
time to its run's start, the run's duration, and the SIGTERM-to-exit time.

    python benchmarks/schedule_latency.py [--slots 6]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slots", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copy(REPO / "newsletter.toml", project / "newsletter.toml")
        shutil.copytree(REPO / "templates", project / "templates")
        shutil.copytree(REPO / "seeds", project / "seeds")
        with open(project / "newsletter.toml", "a", encoding="utf-8") as config:
            config.write(
                '\n[[schedule]]\ncron = "*/2 * * * * *"\n'
                "[scheduler]\nskip_when_nothing_new = false\n"
            )
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        began = time.monotonic()
        daemon = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "schedule"],
            cwd=project,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert daemon.stderr is not None
        for line in daemon.stderr:
            if "next slot" in line:
                break
        startup = time.monotonic() - began
        db = project / ".newsletter" / "state.db"
        while _count(db) < args.slots:
            time.sleep(0.2)
        stopping = time.monotonic()
        daemon.terminate()
        daemon.communicate(timeout=60)
        stop = time.monotonic() - stopping
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT slot, started_at, duration FROM runs WHERE result = 'written' ORDER BY id"
            ).fetchall()
    delays = [_delay(slot, started) for slot, started, _ in rows]
    durations = [duration for _, _, duration in rows]
    print(f"start-up to scheduling: {startup:.2f} s; SIGTERM to exit: {stop:.2f} s")
    print(f"{len(rows)} slots, fire time -> run start: median {statistics.median(delays):.3f} s,")
    print(
        f"  max {max(delays):.3f} s; run (build + write + record): median "
        f"{statistics.median(durations):.3f} s, max {max(durations):.3f} s"
    )


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return int(
                conn.execute("SELECT count(*) FROM runs WHERE result = 'written'").fetchone()[0]
            )
    except sqlite3.OperationalError:
        return 0


def _delay(slot: str, started: str) -> float:
    fired = datetime.fromisoformat(slot)
    began = datetime.fromisoformat(started)
    if began.tzinfo is None:
        began = began.replace(tzinfo=UTC)  # the run log stores UTC
    return (began - fired).total_seconds()


if __name__ == "__main__":
    main()
