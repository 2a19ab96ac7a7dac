"""LINE's long button lists, kept in the database rather than one process's memory

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 11:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "line_pages",
        sa.Column("chat_key", sa.String(64), primary_key=True),
        sa.Column("reply_enc", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("line_pages")
