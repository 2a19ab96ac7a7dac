"""a period's cases: the statistics' columns in the index itself

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:35:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERIOD_COLUMNS = [
    "org_id",
    "created_at",
    "report_type",
    "category",
    "status",
    "acknowledged_at",
    "closed_at",
    "id",
]


def upgrade() -> None:
    # The yearly statistics read only these columns: with all of them in the index, a large
    # organisation's year is counted from the index instead of thousands of scattered table pages.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_org_period", PERIOD_COLUMNS, unique=False)
        batch_op.drop_index("ix_cases_org_created")


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_org_created", ["org_id", "created_at"], unique=False)
        batch_op.drop_index("ix_cases_org_period")
