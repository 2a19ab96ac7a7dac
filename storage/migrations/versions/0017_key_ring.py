"""the keys derived from the first secret key, kept wrapped once the secret key is rotated

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "key_ring",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("index_key", sa.Text(), nullable=False),
        sa.Column("chain_key", sa.Text(), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("key_ring")
