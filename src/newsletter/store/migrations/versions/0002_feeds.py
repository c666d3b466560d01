"""Feeds (validators, health) and every article first seen (hand-written migration 2).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("current_url", sa.String(length=2048), nullable=True),
        sa.Column("etag", sa.String(length=1000), nullable=True),
        sa.Column("last_modified", sa.String(length=200), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_fetched", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("entries_seen", sa.Integer(), nullable=False),
        sa.Column("retry_after", sa.String(length=200), nullable=True),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("url"),
    )
    op.create_table(
        "feed_articles",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("feed_url", sa.String(length=2048), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("outlet", sa.String(length=500), nullable=True),
        sa.Column("published", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flags", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feed_articles_feed_url", "feed_articles", ["feed_url"])
    op.create_index("ix_feed_articles_url", "feed_articles", ["url"])


def downgrade() -> None:
    op.drop_index("ix_feed_articles_url", table_name="feed_articles")
    op.drop_index("ix_feed_articles_feed_url", table_name="feed_articles")
    op.drop_table("feed_articles")
    op.drop_table("feeds")
