"""State: the one database every process shares, through SQLAlchemy Core.

The embedded default is a SQLite file in the state folder (WAL mode, a busy timeout, short
transactions); a ``[state] url`` points elsewhere (PostgreSQL) with the same schema. Every
effect is claimed here before it happens: an issue for a slot is claimed, then built, then
marked done, so a retry or a second process never makes a second issue.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from newsletter.errors import StateError

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

issues = sa.Table(
    "issues",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("newsletter", sa.String(200), nullable=False),
    sa.Column("slot", sa.String(40), nullable=False),
    sa.Column("edition", sa.Integer, nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("path", sa.Text),
    sa.Column("subject", sa.Text),
    sa.Column("articles_in", sa.Integer),
    sa.Column("items_out", sa.Integer),
    sa.Column("error", sa.Text),
    sa.UniqueConstraint("newsletter", "slot", "edition", name="uq_issue_slot_edition"),
    sa.UniqueConstraint("newsletter", "number", name="uq_issue_number"),
)

issue_articles = sa.Table(
    "issue_articles",
    metadata,
    sa.Column("issue_id", sa.Integer, sa.ForeignKey("issues.id"), nullable=False),
    sa.Column("article_id", sa.String(500), nullable=False),
    sa.PrimaryKeyConstraint("issue_id", "article_id"),
)


# Migration 3 (unattended operation): every run attempt, and the one scheduler's lease.
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("newsletter", sa.String(200), nullable=False),
    sa.Column("slot", sa.String(40), nullable=False),
    sa.Column("trigger", sa.String(20), nullable=False),
    sa.Column("schedule", sa.String(100)),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("result", sa.String(20), nullable=False),
    sa.Column("duration", sa.Float),
    sa.Column("articles_in", sa.Integer),
    sa.Column("items_out", sa.Integer),
    sa.Column("issue_number", sa.Integer),
    sa.Column("issue_path", sa.Text),
    sa.Column("error", sa.Text),
    sa.Index("ix_runs_started", "started_at"),
)

scheduler_lease = sa.Table(
    "scheduler_lease",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

# One row per (issue, subscriber): claimed ("sending") before the SMTP transaction, marked
# "sent" right after the server accepts it. Queries live in ledger.py.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("newsletter", sa.String(200), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # pending, sending, sent, failed
    sa.Column("permanent", sa.Boolean, nullable=False, default=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("message_id", sa.String(300), nullable=False),
    sa.Column("owner", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("newsletter", "number", "email", name="uq_delivery"),
)


def _migration_1(conn: Connection) -> None:
    for table in (issues, issue_articles):
        table.create(conn, checkfirst=True)


def _migration_2(conn: Connection) -> None:
    from newsletter.sources.feedstate import (
        migration_2,  # feed tables live beside, on this metadata
    )

    migration_2(conn)


def _migration_3(conn: Connection) -> None:
    for table in (runs, scheduler_lease):
        table.create(conn, checkfirst=True)


def _migration_4(conn: Connection) -> None:
    deliveries.create(conn, checkfirst=True)


def _migration_5(conn: Connection) -> None:
    from newsletter.distributed.slotstate import migration_5  # the fleet's slot barrier

    migration_5(conn)


# Versioned migrations: MIGRATIONS[n] creates what version n adds. Never edit one that has
# shipped; add the next. Each applied version is recorded, so versions developed in parallel
# apply in any order.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _migration_1,
    2: _migration_2,
    3: _migration_3,
    4: _migration_4,
    5: _migration_5,
}
SCHEMA_VERSION = max(MIGRATIONS)

IssueStatus = Literal["building", "done", "failed", "skipped"]
DEFAULT_LEASE = timedelta(minutes=30)


@dataclass(frozen=True)
class IssueRecord:
    id: int
    newsletter: str
    slot: str
    edition: int
    number: int
    status: str
    owner: str
    path: str | None


@dataclass(frozen=True)
class Claimed:
    """This process owns the slot: build the issue, then call ``finish_issue``."""

    record: IssueRecord
    taken_over: bool


@dataclass(frozen=True)
class AlreadyDone:
    record: IssueRecord


@dataclass(frozen=True)
class Busy:
    """Another live process is building this slot right now."""

    record: IssueRecord


ClaimResult = Claimed | AlreadyDone | Busy


class _Contended(Exception):
    """A concurrent claimer changed the row we read; the claim is retried."""


def state_url(state_dir: Path, url: str | None) -> str:
    return url or f"sqlite:///{state_dir / 'state.db'}"


def open_engine(state_dir: Path, url: str | None = None) -> Engine:
    """Connect and migrate. SQLite gets WAL, a busy timeout and its folder created."""
    if url is None:
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StateError(f"{state_dir}: cannot create the state folder: {e.strerror}") from e
    target = state_url(state_dir, url)
    _refuse_empty_sqlite(target)
    engine = sa.create_engine(target, future=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin_immediate)
    try:
        migrate(engine)
    except sa.exc.SQLAlchemyError as e:
        engine.dispose()
        raise StateError(f"{_redacted(target)}: cannot open the state database: {e}") from e
    return engine


def _refuse_empty_sqlite(target: str) -> None:
    """An existing zero-length SQLite file is a lost database, not a new one: re-initialising
    it would restart issue numbers at #1 and forget what was published and delivered."""
    parsed = sa.engine.make_url(target)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    path = Path(parsed.database)
    if path.is_file() and path.stat().st_size == 0:
        raise StateError(
            f"{path}: the state database is an empty file, so its history is lost; "
            "restore it from a backup, or delete it to start again at issue #1"
        )


def _redacted(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    # Take the write lock at BEGIN, so two claimers serialize instead of deadlocking on upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


MIGRATION_LOCK = 0x6E6C5F6D  # PostgreSQL advisory lock id: one migrator at a time


def migrate(engine: Engine) -> int:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
        schema_version.create(conn, checkfirst=True)
        applied = set(conn.execute(sa.select(schema_version.c.version)).scalars())
        for version in sorted(set(MIGRATIONS) - applied):
            MIGRATIONS[version](conn)
            conn.execute(schema_version.insert().values(version=version))
        return SCHEMA_VERSION


@contextmanager
def connect(state_dir: Path, url: str | None = None) -> Iterator[Engine]:
    engine = open_engine(state_dir, url)
    try:
        yield engine
    finally:
        engine.dispose()


def slot_key(slot: datetime) -> str:
    """A slot's identity in the database: its instant in UTC, whatever zone it was given in."""
    return slot.astimezone(UTC).isoformat()


def slot_done(engine: Engine, newsletter: str, slot: datetime) -> bool:
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(issues.c.id).where(
                issues.c.newsletter == newsletter,
                issues.c.slot == slot_key(slot),
                issues.c.status == "done",
            )
        ).first()
    return found is not None


def owner_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool:
    """False only when ``owner`` is a process of this machine that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine: only the lease can tell
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _record(row: sa.Row[Any]) -> IssueRecord:
    return IssueRecord(
        id=row.id,
        newsletter=row.newsletter,
        slot=row.slot,
        edition=row.edition,
        number=row.number,
        status=row.status,
        owner=row.owner,
        path=row.path,
    )


def as_utc(moment: datetime) -> datetime:
    """A datetime read back from the database, made aware: SQLite hands them back naive, and
    every time this project writes is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def claim_issue(
    engine: Engine,
    newsletter: str,
    slot: str,
    *,
    owner: str,
    now: datetime,
    new_edition: bool = False,
    lease: timedelta = DEFAULT_LEASE,
) -> ClaimResult:
    """Claim the right to build ``newsletter``'s issue for ``slot``, before any work starts."""
    for _ in range(5):
        try:
            with engine.begin() as conn:
                return _claim(conn, newsletter, slot, owner, now, new_edition, lease)
        except (sa.exc.IntegrityError, _Contended):
            continue  # another process claimed the same slot or number first: look again
    raise StateError(f"could not claim slot {slot} of {newsletter!r}: too much contention")


def _claim(
    conn: Connection,
    newsletter: str,
    slot: str,
    owner: str,
    now: datetime,
    new_edition: bool,
    lease: timedelta,
) -> ClaimResult:
    rows = conn.execute(
        sa.select(issues)
        .where(issues.c.newsletter == newsletter, issues.c.slot == slot)
        .order_by(issues.c.edition)
    ).all()
    for row in rows:
        if row.status == "done":
            continue
        stale = row.status in ("failed", "skipped") or not owner_alive(row.owner)
        stale = stale or now - as_utc(row.claimed_at) > lease
        if not stale:
            return Busy(_record(row))
        # A claim that gave its number back (see release_issue) takes the next free one.
        number = row.number if row.number > 0 else _next_number(conn, newsletter)
        taken = conn.execute(
            issues.update()
            .where(
                issues.c.id == row.id, issues.c.owner == row.owner, issues.c.status == row.status
            )
            .values(owner=owner, status="building", claimed_at=now, error=None, number=number)
        ).rowcount
        if taken != 1:
            raise _Contended  # another process took it over between our read and write
        taken_row = replace(_record(row), owner=owner, status="building", number=number)
        return Claimed(taken_row, taken_over=True)
    done = [row for row in rows if row.status == "done"]
    if done and not new_edition:
        return AlreadyDone(_record(done[-1]))
    number = _next_number(conn, newsletter)
    edition = max((row.edition for row in rows), default=0) + 1
    new_id = conn.execute(
        issues.insert().values(
            newsletter=newsletter,
            slot=slot,
            edition=edition,
            number=number,
            status="building",
            owner=owner,
            claimed_at=now,
        )
    ).inserted_primary_key
    assert new_id is not None
    record = IssueRecord(new_id[0], newsletter, slot, edition, number, "building", owner, None)
    return Claimed(record, taken_over=False)


def _next_number(conn: Connection, newsletter: str) -> int:
    current = conn.execute(
        sa.select(sa.func.max(issues.c.number)).where(issues.c.newsletter == newsletter)
    ).scalar()
    return max(current or 0, 0) + 1


def finish_issue(
    engine: Engine,
    record: IssueRecord,
    *,
    path: str,
    subject: str,
    article_ids: list[str],
    articles_in: int,
    items_out: int,
    now: datetime,
) -> None:
    """Mark the claimed issue done and record which articles it published, in one step."""
    with engine.begin() as conn:
        updated = conn.execute(
            issues.update()
            .where(issues.c.id == record.id, issues.c.owner == record.owner)
            .values(
                status="done",
                finished_at=now,
                path=path,
                subject=subject,
                articles_in=articles_in,
                items_out=items_out,
            )
        ).rowcount
        if updated != 1:
            raise StateError(f"issue #{record.number}: the claim was taken over by another run")
        if article_ids:
            conn.execute(
                issue_articles.insert(),
                [{"issue_id": record.id, "article_id": a} for a in sorted(set(article_ids))],
            )


def release_issue(
    engine: Engine,
    record: IssueRecord,
    status: IssueStatus,
    reason: str,
    *,
    written: bool = True,
) -> None:
    """Give up a claim as "failed" or "skipped"; a later run may claim the slot again.

    An issue number must not be used up by an issue nobody saw, or the next issue's number
    skips one: a skipped claim made nothing, so its row goes (the run log keeps the attempt);
    a failed one whose folder never reached the outbox (``written=False``) keeps its row and
    error but gives its number back (stored as ``-id``; a retry takes the next free one)."""
    mine = sa.and_(issues.c.id == record.id, issues.c.owner == record.owner)
    with engine.begin() as conn:
        if status == "skipped":
            conn.execute(issues.delete().where(mine))
            return
        values: dict[str, Any] = {"status": status, "error": reason[:2000]}
        if not written:
            values["number"] = -record.id
        conn.execute(issues.update().where(mine).values(**values))


def published_article_ids(engine: Engine, newsletter: str, *, except_slot: str) -> set[str]:
    """Ids of articles published in a finished issue of ``newsletter`` for another slot."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(issue_articles.c.article_id)
            .join(issues, issues.c.id == issue_articles.c.issue_id)
            .where(
                issues.c.newsletter == newsletter,
                issues.c.status == "done",
                issues.c.slot != except_slot,
            )
        )
        return {row.article_id for row in rows}
