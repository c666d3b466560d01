"""The distributed mode with real processes: PostgreSQL and Redis started by the tests, real
``newsletter worker`` processes, and workers killed with SIGKILL while they work."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from conftest import cli_env, run_cli
from fleet import fresh_database, make_distributed, wait_until, workers


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
        shown = run_cli("status", "--json", cwd=project)
        text = run_cli("status", cwd=project)
    assert shown.returncode == 0, shown.stderr
    fleet = json.loads(shown.stdout)["fleet"]
    assert len(fleet["workers"]) == 2 and fleet["queued"] == 0, fleet  # both answered; drained
    assert "workers (2): peace-plan-briefing." in text.stdout, text.stdout
    assert [c.returncode for c in commands] == [0, 0, 0], outputs
    assert len(issue_folders(project)) == 1
    assert rows(url, "SELECT number, status FROM issues") == [(1, "done")]
    assert all("Issue #1" in out or "already in" in out for out, _ in outputs), outputs
    again = run_cli("run", cwd=project)
    assert again.returncode == 0 and "already in" in again.stdout, again.stdout + again.stderr


def spawn(project: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = project / f"{'-'.join(a.strip('-') for a in args)}-{len(list(project.iterdir()))}.log"
    handle = open(log, "wb")  # noqa: SIM115 - the child holds it
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", *args],
        cwd=project,
        env=cli_env(),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    handle.close()
    return process, log


def slots(url: str) -> list[datetime]:
    return [datetime.fromisoformat(str(r[0])) for r in rows(url, "SELECT slot FROM slot_runs")]


def test_one_scheduler_a_second_refuses_a_standby_takes_over_after_sigkill(
    project: Path, postgres_url: str, redis_url: str
) -> None:
    url = fresh_database(postgres_url)
    make_distributed(project, url, redis_url)
    config = project / "newsletter.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + '\n[[schedule]]\ncron = "*/3 * * * * *"\n\n[scheduler]\nskip_when_nothing_new = false\n',
        encoding="utf-8",
    )
    with workers(project, 1):
        first, _ = spawn(project, "schedule")
        standby: subprocess.Popen[bytes] | None = None
        try:
            wait_until(lambda: len(slots(url)) >= 2, 30, "the first scheduler's slots")
            second = run_cli("schedule", cwd=project, timeout=60)
            assert second.returncode == 3, second.stdout + second.stderr
            assert "holds this database's scheduler lock" in second.stderr
            standby, standby_log = spawn(project, "schedule", "--standby")
            wait_until(lambda: b"standby: waiting" in standby_log.read_bytes(), 30, "standby")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
            killed = datetime.now(UTC)
            wait_until(lambda: b"took over" in standby_log.read_bytes(), 5, "the takeover")
            took_over = datetime.now(UTC)
            wait_until(
                lambda: sum(s > took_over for s in slots(url)) >= 2, 30, "the standby's slots"
            )
            os.killpg(standby.pid, signal.SIGTERM)
            assert standby.wait(20) == 0
            wait_until(
                lambda: (
                    rows(url, "SELECT count(*) FROM slot_runs WHERE status <> 'done'") == [(0,)]
                ),
                60,
                "every slot's issue",
            )
        finally:
            for process in (first, standby):
                if process is not None and process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
    made = sorted(slots(url))
    assert any(s < killed for s in made) and any(s > took_over for s in made)
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(made)}
    assert gaps == {3.0}, made  # no slot lost across the takeover (and none twice: unique)
    numbers = rows(url, "SELECT number FROM issues WHERE status = 'done' ORDER BY number")
    assert [n for (n,) in numbers] == list(range(1, len(made) + 1))  # one issue per slot
