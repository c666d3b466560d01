"""Where a state database's schema stands, and bringing it to this version's (Alembic).

The revisions are in ``store/migrations/versions/``. ``HEAD`` names the newest, so a database
already there is recognised with one query, without loading Alembic. A database made by the
hand-written migrations (``schema_version`` rows 1 to 5) is stamped at the revision of its
highest version, then upgraded like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from newsletter.errors import StateError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

HEAD = "0010"  # the newest revision; tests/test_migrations.py checks it against versions/
MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x6E6C5F6D  # PostgreSQL advisory lock id: one migrator at a time

# The revision that creates what each hand-written migration (schema_version) created.
_LEGACY = {1: "0001", 2: "0002", 3: "0003", 4: "0004", 5: "0005"}


@dataclass(frozen=True)
class Revision:
    """Where a database stands. ``revision`` None and ``legacy`` None: an empty database."""

    revision: str | None
    legacy: int | None = None  # the hand-written schema_version, before Alembic

    @property
    def current(self) -> bool:
        return self.revision == HEAD

    @property
    def empty(self) -> bool:
        return self.revision is None and self.legacy is None

    def describe(self) -> str:
        if self.legacy is not None:
            return f"schema version {self.legacy} (before revisions)"
        return f"revision {self.revision}"


def revision_of(conn: Connection) -> Revision:
    inspector = sa.inspect(conn)
    if inspector.has_table("alembic_version"):
        found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
        if len(found) != 1:
            raise StateError(f"alembic_version holds {len(found)} revisions, expected one")
        return Revision(str(found[0]))
    if inspector.has_table("schema_version"):
        return Revision(None, legacy=_legacy_version(conn))
    return Revision(None)


def _legacy_version(conn: Connection) -> int:
    """The highest hand-written version applied with every version below it."""
    applied = set(conn.execute(sa.text("SELECT version FROM schema_version")).scalars())
    version = 0
    while version + 1 in applied:
        version += 1
    if applied - set(range(1, version + 1)):
        raise StateError(
            f"schema_version holds versions {sorted(applied)}: version {version + 1} is "
            "missing below later ones, so no revision matches this database"
        )
    return version


def upgrade_engine(engine: Engine) -> tuple[Revision, Revision]:
    """Bring the schema to ``HEAD``, in one transaction; (before, after).

    On SQLite, batch mode rebuilds a table (copy, drop, rename), and dropping a table others
    reference fails while foreign keys are enforced; they can only be switched off outside a
    transaction. So they are off for the upgrade and checked before it commits."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                before, after = upgrade(conn)
                if sqlite and before != after:
                    broken = conn.execute(sa.text("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise StateError(f"the upgrade would break foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
    return before, after


def upgrade(conn: Connection) -> tuple[Revision, Revision]:
    """Bring the schema to ``HEAD`` in the caller's transaction; (before, after).

    On PostgreSQL an advisory lock makes a second process starting at the same moment wait,
    then find the schema current. On SQLite the caller's BEGIN IMMEDIATE does the same."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK})
    before = revision_of(conn)
    if before.current:
        return before, before
    from alembic import command

    config = _alembic_config(conn)
    if before.revision is not None:
        known(before.revision)
    elif before.legacy:
        command.stamp(config, _LEGACY[before.legacy])
    command.upgrade(config, "head")
    after = revision_of(conn)
    assert after.current, after
    return before, after


def known(revision: str) -> None:
    """Raise if this version of newsletter does not know ``revision`` (a newer one wrote it)."""
    from alembic.util import CommandError

    try:
        _script().get_revision(revision)
    except CommandError:
        raise StateError(
            f"the state database is at revision {revision}, which this version of newsletter "
            f"does not know (its newest is {HEAD}): a newer newsletter upgraded it; use that one"
        ) from None


def _alembic_config(conn: Connection | None = None) -> AlembicConfig:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


def script_head() -> str | None:
    """The newest revision in ``versions/`` (``HEAD`` must name it)."""
    return _script().get_current_head()
