"""Each stored event names its chat's lane (a keyed hash), so a process tells whose chat it is
without opening the event: with several processes, one handles a chat at a time

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 13:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # nullable: events stored before this revision get their lane from their payload when read
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("lane", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("lane")
