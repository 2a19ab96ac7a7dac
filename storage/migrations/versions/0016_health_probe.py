"""a row /healthz writes to, so a database that refuses writes is not reported healthy

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "health_probe",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.execute("INSERT INTO health_probe (id) VALUES (1)")


def downgrade() -> None:
    op.drop_table("health_probe")
