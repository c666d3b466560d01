"""Writes that two processes can race on without a retry loop: the state database's
dialect does the work.

- ``insert_missing`` and ``upsert``: ``INSERT ... ON CONFLICT DO NOTHING / DO UPDATE``
  (SQLite 3.24+ and PostgreSQL spell it the same way; SQLAlchemy's dialect ``insert`` builds
  it), so "insert unless it is there" is one statement, never a read then an insert that a
  concurrent insert can make fail.
- ``compare_and_set``: an UPDATE that changes a row only if it still holds what was read: a
  claim (an issue's slot, a delivery, a fetch) is won by exactly one process.
- ``serialized``: a transaction that reads and then decides (the next issue number) holds a
  lock per name until it ends: PostgreSQL's ``pg_advisory_xact_lock``; SQLite needs nothing,
  as every transaction there begins with ``BEGIN IMMEDIATE`` (the write lock).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from newsletter.errors import StateError

Row = Mapping[str, Any]
_SERIALIZE = 0x6E6C5F77  # "nl_w": the high half of the advisory keys taken by ``serialized``


def _insert(conn: Connection, table: sa.Table) -> Any:
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise StateError(f"state database: {name} is not supported; use SQLite or PostgreSQL")


def insert_missing(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Row],
    keys: Sequence[str],
    *,
    returning: str | None = None,
) -> set[Any]:
    """Insert the ``rows`` whose ``keys`` (a unique constraint) are not in ``table`` yet; rows
    already there stay as they are. With ``returning``, that column of the rows inserted."""
    if not rows:
        return set()
    statement = _insert(conn, table).on_conflict_do_nothing(index_elements=list(keys))
    if returning is None:
        conn.execute(statement, list(rows))
        return set()
    result = conn.execute(statement.returning(table.c[returning]), list(rows))
    return set(result.scalars())


def upsert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Row],
    keys: Sequence[str],
    *,
    update: Mapping[str, Any] | None = None,
) -> None:
    """Insert each row, or, where its ``keys`` are there already, set its other columns to the
    row's values (or set ``update``: expressions over the stored row, e.g. a count + 1)."""
    if not rows:
        return
    statement = _insert(conn, table)
    columns = [name for name in rows[0] if name not in keys]
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(keys),
            set_=dict(update)
            if update is not None
            else {c: statement.excluded[c] for c in columns},
        ),
        list(rows),
    )


def compare_and_set(
    conn: Connection,
    table: sa.Table,
    where: sa.ColumnElement[bool],
    expected: Mapping[str, Any],
    values: Mapping[str, Any],
) -> bool:
    """Set ``values`` on the row ``where`` selects if its ``expected`` columns still hold what
    was read (None: NULL); True if this call changed it, False if another process did first."""
    still = [
        table.c[name].is_(None) if value is None else table.c[name] == value
        for name, value in expected.items()
    ]
    changed = conn.execute(table.update().where(where, *still).values(**values)).rowcount
    return changed == 1


def serialized(conn: Connection, name: str) -> None:
    """Hold the lock named ``name`` until ``conn``'s transaction ends (see the module's doc)."""
    if conn.dialect.name == "postgresql":
        key = (_SERIALIZE << 32) | zlib.crc32(name.encode("utf-8"))
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
