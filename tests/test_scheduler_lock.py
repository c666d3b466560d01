"""`newsletter schedule`'s lock on each state database, in this process (click's runner): on
SQLite a lock file beside the database, on PostgreSQL (with or without [queue]) the advisory
lock; a second scheduler exits 3 naming the first, and status says who runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from newsletter.cli import main
from newsletter.config import load_config
from newsletter.distributed.lock import AdvisoryLock, scheduler_key
from newsletter.schedule.lock import FileLock, SchedulerLock, lock_path
from newsletter.status import scheduler_holder
from newsletter.store import schema, state

SCHEDULE = '\n[[schedule]]\nname = "yearly"\ncron = "0 0 1 1 *"\n'


def test_a_second_scheduler_refuses_naming_the_first_and_status_names_it(
    project: Path, state_url: str | None
) -> None:
    toml = project / "newsletter.toml"
    text = toml.read_text() + SCHEDULE
    if state_url is not None:
        text = text.replace('[state]\npath = ".newsletter"', f'[state]\nurl = "{state_url}"')
    toml.write_text(text)
    config = load_config(toml)
    now = datetime.now(UTC)
    assert scheduler_holder(config, now) is None

    owner = state.owner_token()
    lock: SchedulerLock
    if state_url is None:
        config.state_dir.mkdir()  # made by the scheduler's engine before it takes the lock
        path = lock_path(config.state_dir, None, config.newsletter.name)
        lock = FileLock(path, owner, lambda: datetime.now(UTC))
    else:
        lock = AdvisoryLock(state_url, owner, scheduler_key(config.newsletter.name))
    lock.acquire()
    try:
        holder = scheduler_holder(config, now)
        assert holder is not None and holder.owner == owner
        refused = CliRunner().invoke(main, ["schedule", "--config", str(toml)])
        assert refused.exit_code == 3, refused.output
        assert "another 'newsletter schedule'" in refused.output
        assert owner in refused.output
    finally:
        lock.release()
    assert scheduler_holder(config, now) is None


def test_upgrading_drops_the_lease_row_and_apschedulers_job_tables(tmp_path: Path) -> None:
    # A database the previous scheduler used: at revision 0007, with its lease table and the
    # per-newsletter job table APScheduler's SQLAlchemy job store made.
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with engine.begin() as conn:  # the revisions up to 0007 only: later ones may change tables
        config = schema._alembic_config(conn)
        command.upgrade(config, "0007")
    with engine.begin() as conn:
        assert "scheduler_lease" in sa.inspect(conn).get_table_names()  # made by 0003
        conn.exec_driver_sql(
            "CREATE TABLE apscheduler_jobs_0123abcd (id VARCHAR(191) PRIMARY KEY, "
            "next_run_time FLOAT, job_state BLOB NOT NULL)"
        )
    _where, before, after = state.upgrade_database(tmp_path)
    assert (before.revision, after.revision) == ("0007", schema.HEAD)
    tables = set(sa.inspect(engine).get_table_names())
    assert "scheduler_lease" not in tables
    assert not [t for t in tables if t.startswith("apscheduler_")]
    assert {"issues", "runs", "deliveries"} <= tables  # the rest stays
    engine.dispose()
