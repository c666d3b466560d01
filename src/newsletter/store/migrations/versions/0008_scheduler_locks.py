"""Scheduler locks without tables: the lease row and APScheduler's job tables go.

The scheduler now holds a lock its holder's death releases (a lock file beside SQLite, an
advisory lock on PostgreSQL) and keeps its jobs in memory, so ``scheduler_lease`` and every
``apscheduler_jobs_<hash>`` table (one per newsletter, made by APScheduler's SQLAlchemy job
store) are dropped. A downgrade recreates the lease table; APScheduler made its own tables.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_JOB_TABLE = re.compile(r"^apscheduler_jobs(_[0-9a-f]{8})?$")


def upgrade() -> None:
    op.drop_table("scheduler_lease")
    for name in sa.inspect(op.get_bind()).get_table_names():
        if _JOB_TABLE.match(name):
            op.drop_table(name)


def downgrade() -> None:
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
