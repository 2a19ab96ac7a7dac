"""each case's own key for the free text of its history; the audit chain's format

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:40:00.000000

The notes already in the history are encrypted by the application at its next start
(storage.audit.convert_history), which holds the secret key that this migration does not.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_keys",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("wrapped", sa.Text(), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("format", sa.Integer(), server_default="1", nullable=False))
    # an empty chain has nothing to convert: it starts in the current format
    op.execute("UPDATE audit_head SET format = 2 WHERE length = 0")


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("format")
    op.drop_table("case_keys")
