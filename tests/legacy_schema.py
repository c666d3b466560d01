"""The state database's schema as the hand-written migrations 1 to 5 made it (before Alembic).

Copied from src/newsletter/store/state.py, sources/feedstate.py and distributed/slotstate.py
as they were at schema_version 5, so tests can build a database an older newsletter made.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

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


feeds = sa.Table(
    "feeds",
    metadata,
    sa.Column("url", sa.String(2048), primary_key=True),  # as configured: the feed's identity
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("current_url", sa.String(2048)),  # after a permanent redirect (301/308)
    sa.Column("etag", sa.String(1000)),
    sa.Column("last_modified", sa.String(200)),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("last_fetched", sa.DateTime(timezone=True)),
    sa.Column("last_success", sa.DateTime(timezone=True)),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("entries_seen", sa.Integer, nullable=False, default=0),
    sa.Column("retry_after", sa.String(200)),
    sa.Column("retired", sa.Boolean, nullable=False, default=False),
)

feed_articles = sa.Table(
    "feed_articles",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("feed_url", sa.String(2048), nullable=False, index=True),
    sa.Column("url", sa.String(2048), index=True),  # canonical link
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("outlet", sa.String(500)),
    sa.Column("published", sa.DateTime(timezone=True)),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("flags", sa.String(100), nullable=False, default=""),
)

slot_runs = sa.Table(
    "slot_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("newsletter", sa.String(200), nullable=False),
    sa.Column("slot", sa.String(40), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("feeds", sa.Integer, nullable=False),
    sa.Column("allow_empty", sa.Boolean, nullable=False),
    sa.Column("send", sa.Boolean, nullable=False),
    sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("issue_number", sa.Integer),
    sa.Column("issue_path", sa.Text),
    sa.Column("result", sa.String(20)),  # the pipeline's RunStatus: written, exists, ...
    sa.Column("message", sa.Text),
    sa.UniqueConstraint("newsletter", "slot", name="uq_slot_run"),
)

slot_fetches = sa.Table(
    "slot_fetches",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("slot_runs.id"), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("feed_url", sa.String(2048), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("owner", sa.String(200)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("articles", sa.Integer),
    sa.Column("error", sa.Text),
    sa.PrimaryKeyConstraint("run_id", "feed_url"),
    sa.Index("ix_slot_fetches_pending", "run_id", "status"),
)


# What each hand-written migration created.
MIGRATIONS: dict[int, tuple[sa.Table, ...]] = {
    1: (issues, issue_articles),
    2: (feeds, feed_articles),
    3: (runs, scheduler_lease),
    4: (deliveries,),
    5: (slot_runs, slot_fetches),
}


def migrate(engine: Engine, versions: tuple[int, ...] = (1, 2, 3, 4, 5)) -> None:
    """The old ``state.migrate``, limited to ``versions``: what an older newsletter did each
    time it opened the database (it did not check the database was one it knew)."""
    with engine.begin() as conn:
        schema_version.create(conn, checkfirst=True)
        applied = set(conn.execute(sa.select(schema_version.c.version)).scalars())
        for version in sorted(set(versions) - applied):
            _apply(conn, version)
            conn.execute(schema_version.insert().values(version=version))


def _apply(conn: Connection, version: int) -> None:
    for table in MIGRATIONS[version]:
        table.create(conn, checkfirst=True)
