"""Feeds: entries the last fetch parsed, and how many were older than max_age_days.

Issue 15: `newsletter feeds` says why a feed that answers brings nothing.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("entries_parsed", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("entries_too_old", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("entries_too_old")
        batch.drop_column("entries_parsed")
