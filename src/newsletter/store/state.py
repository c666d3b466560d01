"""State: the one database every process shares, through SQLAlchemy Core.

The embedded default is a SQLite file in the state folder (WAL mode, a busy timeout, short
transactions); a ``[state] url`` points elsewhere (PostgreSQL) with the same schema. Every
effect is claimed here before it happens: an issue for a slot is claimed, then built, then
marked done, so a retry or a second process never makes a second issue.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from newsletter.errors import StateError, redacted
from newsletter.store import schema, writes
from newsletter.store.tables import (
    deliveries,
    issue_articles,
    issues,
    metadata,
    runs,
    schema_version,
)

__all__ = [  # the tables, for the query modules that import them from here
    "deliveries",
    "issue_articles",
    "issues",
    "metadata",
    "runs",
    "schema_version",
]

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


def state_url(state_dir: Path, url: str | None) -> str:
    return url or f"sqlite:///{state_dir / 'state.db'}"


def open_engine(state_dir: Path, url: str | None = None, *, upgrade: bool = True) -> Engine:
    """Connect. SQLite gets WAL, a busy timeout and (when upgrading) its folder created.

    With ``upgrade`` the schema is brought to this version's first (``run``, ``schedule``,
    ``worker``, ``db upgrade``). Without, nothing is created or changed: the database must
    exist and be current, or a StateError says to run ``newsletter db upgrade``."""
    where = _where(state_dir, url)
    if url is None and not upgrade and not (state_dir / "state.db").exists():
        raise StateError(_no_database(where))
    engine = _engine(state_dir, url)
    try:
        if upgrade:
            migrate(engine)
        else:
            _require_current(engine, where)
    except sa.exc.SQLAlchemyError as e:
        engine.dispose()
        raise StateError(database_problem(where, "cannot open the state database", e)) from e
    except StateError:
        engine.dispose()
        raise
    return engine


def _engine(state_dir: Path, url: str | None) -> Engine:
    _refuse_empty_sqlite(state_url(state_dir, url))
    if url is None:
        try:
            _private_state(state_dir)
        except OSError as e:
            raise StateError(f"{state_dir}: cannot create the state folder: {e.strerror}") from e
    engine = sa.create_engine(state_url(state_dir, url), future=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def upgrade_database(
    state_dir: Path, url: str | None = None
) -> tuple[str, schema.Revision, schema.Revision]:
    """``newsletter db upgrade``: where the database is, and its revision before and after."""
    where = _where(state_dir, url)
    engine = _engine(state_dir, url)
    try:
        before, after = schema.upgrade_engine(engine)
    except sa.exc.SQLAlchemyError as e:
        raise StateError(database_problem(where, "cannot upgrade the state database", e)) from e
    finally:
        engine.dispose()
    return where, before, after


def database_revision(state_dir: Path, url: str | None = None) -> tuple[str, schema.Revision]:
    """``newsletter db current``: where the database is and its revision; creates nothing."""
    where = _where(state_dir, url)
    if url is None and not (state_dir / "state.db").exists():
        return where, schema.Revision(None)
    engine = _engine(state_dir, url)
    try:
        with engine.connect() as conn:
            return where, schema.revision_of(conn)
    except sa.exc.SQLAlchemyError as e:
        raise StateError(database_problem(where, "cannot read the state database", e)) from e
    finally:
        engine.dispose()


def database_problem(where: str, what: str, error: Exception) -> str:
    """One line: the database (``where``, password already hidden), what failed, the driver's
    cause without SQLAlchemy's class names and links, and the fix."""
    cause = _cause(error)
    return f"{where}: {what}: {cause}; {_fix(cause)}"


def _cause(error: Exception) -> str:
    orig = getattr(error, "orig", None)  # a DBAPIError: the driver's own message
    text = str(orig if orig is not None else error)
    text = text.split("(Background on this error", 1)[0]
    return " ".join(text.split()).rstrip(".") or type(error).__name__


def _fix(cause: str) -> str:
    lowered = cause.lower()
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return (
            "the file is damaged or not a state database: restore it from a backup, or move "
            "it away to start again at issue #1"
        )
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        return "let this user write the state folder and its state.db, or set [state] path"
    if "refused" in lowered or "could not connect" in lowered or "timeout" in lowered:
        return "start the database server or correct [state] url"
    if "password" in lowered or "authentication" in lowered or "role" in lowered:
        return "check the user and password in [state] url (or [state] url_env)"
    return "check [state] in newsletter.toml and that the database is reachable"


def where(state_dir: Path, url: str | None) -> str:
    """The state database as shown to people: its file, or its URL without the password."""
    return _where(state_dir, url)


def _where(state_dir: Path, url: str | None) -> str:
    return str(state_dir / "state.db") if url is None else redacted(url)


def _no_database(where: str) -> str:
    return f"no state database yet at {where}: run newsletter run or newsletter db upgrade"


def _require_current(engine: Engine, where: str) -> None:
    with engine.connect() as conn:
        found = schema.revision_of(conn)
    if found.current:
        return
    if found.empty:
        raise StateError(_no_database(where))
    if found.revision is not None:
        schema.known(found.revision)  # a newer newsletter's revision: says so
    raise StateError(
        f"state database {where} is at {found.describe()}, this version needs revision "
        f"{schema.HEAD}: run newsletter db upgrade"
    )


def _private_state(state_dir: Path) -> None:
    """A new state folder 0700; state.db (subscriber addresses, tokens) 0600, created so and
    tightened if an older version left it readable. SQLite gives its -wal and -shm files the
    database file's mode. A file this user does not own is left as it is."""
    if not state_dir.is_dir():
        state_dir.mkdir(mode=0o700, parents=True)
    database = state_dir / "state.db"
    if not database.exists():
        _create_private_database(database)
    for path in (database, state_dir / "state.db-wal", state_dir / "state.db-shm"):
        try:
            if path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
                os.chmod(path, 0o600)
        except FileNotFoundError:
            continue


def _create_private_database(database: Path) -> None:
    """An empty SQLite database at ``database``, mode 0600, appearing at once and whole: it is
    made under a private name, given its header, then linked into place. A zero-length file
    is never visible (another process would rightly refuse it as a lost database), and of
    processes starting together the first link wins; the others use it."""
    scratch = database.with_name(f".{database.name}.{os.getpid()}.{threading.get_ident()}")
    os.close(os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        connection = sqlite3.connect(scratch)
        try:
            connection.execute("PRAGMA journal_mode=WAL")  # writes the header: not zero-length
        finally:
            connection.close()
        with contextlib.suppress(FileExistsError):
            os.link(scratch, database)
    finally:
        for leftover in (scratch, scratch.with_name(scratch.name + "-wal")):
            leftover.unlink(missing_ok=True)
        scratch.with_name(scratch.name + "-shm").unlink(missing_ok=True)


def _refuse_empty_sqlite(target: str) -> None:
    """An existing zero-length SQLite file is a lost database, not a new one: re-initialising
    it would restart issue numbers at #1 and forget what was published and delivered. (A
    database whose pages are all still in its write-ahead log is not empty.)"""
    parsed = sa.engine.make_url(target)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    path = Path(parsed.database)
    wal = path.with_name(path.name + "-wal")
    if path.is_file() and path.stat().st_size == 0 and not (wal.is_file() and wal.stat().st_size):
        raise StateError(
            f"{path}: the state database is an empty file, so its history is lost; "
            "restore it from a backup, or delete it to start again at issue #1"
        )


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


SCHEMA_VERSION = schema.HEAD


def migrate(engine: Engine) -> str:
    """Bring the schema to this version's revision (see store/schema.py); return it."""
    _before, after = schema.upgrade_engine(engine)
    assert after.revision is not None
    return after.revision


@contextmanager
def connect(state_dir: Path, url: str | None = None, *, upgrade: bool = True) -> Iterator[Engine]:
    engine = open_engine(state_dir, url, upgrade=upgrade)
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
    """Claim the right to build ``newsletter``'s issue for ``slot``, before any work starts.

    Claims of one newsletter are serialized (``writes.serialized``): the next issue number is
    read and used in one step, so two claimers never pick the same slot or number."""
    with engine.begin() as conn:
        writes.serialized(conn, f"issues:{newsletter}")
        return _claim(conn, newsletter, slot, owner, now, new_edition, lease)


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
        stale = stale or now - row.claimed_at > lease
        if not stale:
            return Busy(_record(row))
        # A claim that gave its number back (see release_issue) takes the next free one.
        number = row.number if row.number > 0 else _next_number(conn, newsletter)
        taken = writes.compare_and_set(
            conn,
            issues,
            issues.c.id == row.id,
            {"owner": row.owner, "status": row.status},
            {
                "owner": owner,
                "status": "building",
                "claimed_at": now,
                "error": None,
                "number": number,
            },
        )
        if not taken:  # cannot happen while claims are serialized; never take a row blindly
            return Busy(_record(row))
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


def _published(newsletter: str, except_slot: str) -> sa.Select[tuple[str]]:
    return (
        sa.select(issue_articles.c.article_id)
        .join(issues, issues.c.id == issue_articles.c.issue_id)
        .where(
            issues.c.newsletter == newsletter,
            issues.c.status == "done",
            issues.c.slot != except_slot,
        )
    )


def published_article_ids(engine: Engine, newsletter: str, *, except_slot: str) -> set[str]:
    """Ids of articles published in a finished issue of ``newsletter`` for another slot."""
    with engine.connect() as conn:
        return {row.article_id for row in conn.execute(_published(newsletter, except_slot))}


def has_published(engine: Engine, newsletter: str, *, except_slot: str) -> bool:
    """Whether any article was published in a finished issue of ``newsletter`` for another
    slot (one row read, not every id ever published)."""
    with engine.connect() as conn:
        return conn.execute(_published(newsletter, except_slot).limit(1)).first() is not None
