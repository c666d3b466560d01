"""Every table of the state database, in one place: what the code reads and writes.

The schema itself is made by the Alembic revisions in ``store/migrations/versions/`` (their DDL
written out, never built from these objects); ``alembic check`` (run by ``.ci/run``) and
``tests/test_migrations.py`` fail when the two differ. To change a table: edit it here, then
write the next revision (see docs/internals.md, "The state database").

The query functions live with their part (``state.py``, ``sources/feedstate.py``,
``delivery/ledger.py``, ``distributed/slotstate.py`` ...) and import their tables from here, so
``store`` imports nothing above it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A moment: stored in UTC, read back as an aware UTC datetime, on SQLite too.

    SQLite keeps no zone (it would store an aware time's wall clock as if it were UTC) and
    hands back naive values; PostgreSQL hands them back in the session's zone. A naive value
    given to the database is taken as UTC, as every time this project writes is."""

    impl = sa.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

# Alembic keeps the schema's revision in ``alembic_version``. This table only stops an older
# newsletter, whose hand-written migrations read ``schema_version.version``, from using a
# database it does not know: it finds the table but not the column, and stops with an error.
schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("managed_by", sa.String(200), nullable=False),
)

# One row per issue claimed for a slot (state.py).
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
    sa.Column("claimed_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime()),
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

# Each feed's validators and health, each article first seen (sources/feedstate.py).
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
    sa.Column("last_fetched", UTCDateTime()),
    sa.Column("last_success", UTCDateTime()),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("entries_seen", sa.Integer, nullable=False, default=0),
    sa.Column("retry_after", sa.String(200)),
    sa.Column("retired", sa.Boolean, nullable=False, default=False),
    # The last fetch that parsed: its entries, and those older than [fetch] max_age_days.
    sa.Column("entries_parsed", sa.Integer),
    sa.Column("entries_too_old", sa.Integer),
    sa.Column("fresh_until", UTCDateTime()),  # Cache-Control max-age / Expires of the last answer
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
    sa.Column("published", UTCDateTime()),
    sa.Column("first_seen", UTCDateTime(), nullable=False),
    sa.Column("flags", sa.String(100), nullable=False, default=""),
)

# Every run attempt (schedule/runlog.py).
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("newsletter", sa.String(200), nullable=False),
    sa.Column("slot", sa.String(40), nullable=False),
    sa.Column("trigger", sa.String(20), nullable=False),
    sa.Column("schedule", sa.String(100)),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("result", sa.String(20), nullable=False),
    sa.Column("duration", sa.Float),
    sa.Column("articles_in", sa.Integer),
    sa.Column("items_out", sa.Integer),
    sa.Column("issue_number", sa.Integer),
    sa.Column("issue_path", sa.Text),
    sa.Column("error", sa.Text),
    sa.Index("ix_runs_started", "started_at"),
)

# One row per (issue, subscriber): claimed ("sending") before the SMTP transaction, marked
# "sent" right after the server accepts it (delivery/ledger.py).
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
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("claimed_at", UTCDateTime()),
    sa.Column("sent_at", UTCDateTime()),
    sa.UniqueConstraint("newsletter", "number", "email", name="uq_delivery"),
)

# The fleet's slot barrier (distributed/slotstate.py): one row per planned slot, one per
# (slot, feed) fetch.
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
    sa.Column("planned_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime()),
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
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("articles", sa.Integer),
    sa.Column("error", sa.Text),
    sa.PrimaryKeyConstraint("run_id", "feed_url"),
    sa.Index("ix_slot_fetches_pending", "run_id", "status"),
)


# Subscribers (issue 13; queries in delivery/roster.py): one list per newsletter with a stable
# random id (tokens are bound to it, not to the name), its subscribers (an opaque id, the
# address and its lowercased key, name, sections as a JSON list or NULL for all, status and
# when and how it was reached, the pending confirmation's nonce), every status change in
# consent_events, and the sign-up rate-limit windows (in the database: several `serve`
# processes share them).
mailing_lists = sa.Table(
    "mailing_lists",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("newsletter", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("list_id", sa.String(36), sa.ForeignKey("mailing_lists.id"), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("email_key", sa.String(320), nullable=False),
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("sections", sa.Text),  # JSON list of section ids; NULL: every section
    # pending, active, unsubscribed, bounced, complained, removed (by the operator)
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("status_at", UTCDateTime(), nullable=False),
    sa.Column("status_how", sa.String(40), nullable=False),
    sa.Column("origin", sa.String(400), nullable=False),  # signup, operator, csv:<path>
    sa.Column("prefs_by", sa.String(20), nullable=False),  # who last chose name/sections
    sa.Column("confirm_nonce", sa.String(64)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("list_id", "email_key", name="uq_subscriber_address"),
)

consent_events = sa.Table(
    "consent_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subscriber_id", sa.String(40), sa.ForeignKey("subscribers.id"), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("event", sa.String(30), nullable=False),  # a status, or soft-bounce
    sa.Column("how", sa.String(40), nullable=False),
    sa.Column("detail", sa.Text),
    sa.Index("ix_consent_subscriber", "subscriber_id"),
)

signup_limits = sa.Table(
    "signup_limits",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("window", sa.Integer, primary_key=True),  # hours since the epoch
    sa.Column("count", sa.Integer, nullable=False),
)
