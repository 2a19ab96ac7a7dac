"""a second step for the web desk: a one-time code from an authenticator app (TOTP)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 21:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("totp_secret_enc", sa.Text(), nullable=True))
        batch.add_column(sa.Column("totp_enrolled_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("desk_sessions") as batch:
        batch.add_column(sa.Column("second_step_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("desk_sessions") as batch:
        batch.drop_column("second_step_at")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("totp_enrolled_at")
        batch.drop_column("totp_secret_enc")
