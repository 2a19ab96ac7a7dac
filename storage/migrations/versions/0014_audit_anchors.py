"""the audit chain's daily heads, published outside the database; keyed links from an empty chain

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 01:00:00.000000

A chain with events is hashed again with the key by the application at its next start
(storage.audit.convert_history), which holds the secret key that this migration does not.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_anchors",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute("UPDATE audit_head SET format = 3 WHERE length = 0")


def downgrade() -> None:
    op.drop_table("audit_anchors")
