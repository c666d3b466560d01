"""Alembic takes over from the hand-written ``schema_version``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

An older newsletter reads ``schema_version.version`` to decide what to create. The table it
recorded its versions in (a database adopted at its version) is replaced by one without that
column, so such a binary stops with an error instead of using a database it does not know.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

NOTE = "Alembic: the revision is in alembic_version; `newsletter db current` shows it"


def upgrade() -> None:
    op.execute("DROP TABLE IF EXISTS schema_version")
    guard = op.create_table(
        "schema_version",
        sa.Column("managed_by", sa.String(length=200), nullable=False),
    )
    op.bulk_insert(guard, [{"managed_by": NOTE}])


def downgrade() -> None:
    op.drop_table("schema_version")
