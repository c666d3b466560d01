"""The distributed mode with real processes: PostgreSQL and Redis started by the tests, real
``newsletter worker`` processes, and workers killed with SIGKILL while they work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from conftest import cli_env, run_cli
from fleet import fresh_database, make_distributed, workers


def issue_folders(project: Path) -> list[str]:
    outbox = project / "outbox"
    if not outbox.is_dir():
        return []
    return sorted(p.name for p in outbox.iterdir() if not p.name.startswith("."))


def rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def test_concurrent_runs_on_two_workers_make_one_issue(
    project: Path, postgres_url: str, redis_url: str
) -> None:
    url = fresh_database(postgres_url)
    make_distributed(project, url, redis_url)
    with workers(project, 2):
        commands = [
            subprocess.Popen(
                [sys.executable, "-m", "newsletter", "run"],
                cwd=project,
                env=cli_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [c.communicate(timeout=60) for c in commands]
    assert [c.returncode for c in commands] == [0, 0, 0], outputs
    assert len(issue_folders(project)) == 1
    assert rows(url, "SELECT number, status FROM issues") == [(1, "done")]
    assert all("Issue #1" in out or "already in" in out for out, _ in outputs), outputs
    again = run_cli("run", cwd=project)
    assert again.returncode == 0 and "already in" in again.stdout, again.stdout + again.stderr
