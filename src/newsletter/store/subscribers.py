"""The subscriber tables (migration 6): one list per newsletter, its subscribers, the consent
record of every status change, and the sign-up rate-limit counters.

Queries live in ``newsletter.delivery.roster``; this module only defines the tables so that
the state database's migrations can create them.

- ``mailing_lists``: a stable random id per newsletter. Tokens are bound to it, not to the
  newsletter's name, so renaming a newsletter breaks no link.
- ``subscribers``: an opaque random id (what links carry), the address as given and its
  lowercased key, name, chosen sections (JSON list, NULL: all), status and when and how the
  status was reached. ``confirm_nonce`` is set while a sign-up waits for its confirmation and
  cleared when used, so a confirmation link works once.
- ``consent_events``: every status change (and soft bounce) with time, how and detail.
- ``signup_limits``: fixed one-hour windows per client or address; in the database so that
  several ``newsletter serve`` processes share them.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from newsletter.store.state import metadata

mailing_lists = sa.Table(
    "mailing_lists",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("newsletter", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
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
    sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status_how", sa.String(40), nullable=False),
    sa.Column("origin", sa.String(400), nullable=False),  # signup, operator, csv:<path>
    sa.Column("prefs_by", sa.String(20), nullable=False),  # who last chose name/sections
    sa.Column("confirm_nonce", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("list_id", "email_key", name="uq_subscriber_address"),
)

consent_events = sa.Table(
    "consent_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subscriber_id", sa.String(40), sa.ForeignKey("subscribers.id"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
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


def migration_6(conn: Connection) -> None:
    for table in (mailing_lists, subscribers, consent_events, signup_limits):
        table.create(conn, checkfirst=True)
