"""Issues and the articles each published (hand-written migration 1).

Revision ID: 0001
Revises:
Create Date: 2026-11-28

The first five revisions are the hand-written migrations 1 to 5 of ``schema_version``, their
DDL written out: a database they made is stamped at its version and upgraded from there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("newsletter", sa.String(length=200), nullable=False),
        sa.Column("slot", sa.String(length=40), nullable=False),
        sa.Column("edition", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("articles_in", sa.Integer(), nullable=True),
        sa.Column("items_out", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("newsletter", "slot", "edition", name="uq_issue_slot_edition"),
        sa.UniqueConstraint("newsletter", "number", name="uq_issue_number"),
    )
    op.create_table(
        "issue_articles",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issues.id"]),
        sa.PrimaryKeyConstraint("issue_id", "article_id"),
    )


def downgrade() -> None:
    op.drop_table("issue_articles")
    op.drop_table("issues")
