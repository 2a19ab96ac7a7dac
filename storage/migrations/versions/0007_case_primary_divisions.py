"""a case's primary divisions on its row, in the period index: statistics by division without a join

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 10:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_PERIOD_COLUMNS = [
    "org_id",
    "created_at",
    "report_type",
    "category",
    "status",
    "acknowledged_at",
    "closed_at",
    "id",
]
PERIOD_COLUMNS = [*OLD_PERIOD_COLUMNS[:-1], "primary_division_ids", "id"]

# ids ascending and comma-joined, NULL for a case without a primary division, as
# storage.cases.primary_divisions_text spells them
BACKFILL = {
    "postgresql": """
        UPDATE cases SET primary_division_ids = p.ids
        FROM (
            SELECT case_id, string_agg(CAST(division_id AS TEXT), ',' ORDER BY division_id) AS ids
            FROM case_divisions WHERE role = 'primary' GROUP BY case_id
        ) AS p
        WHERE cases.id = p.case_id
    """,
    # SQLite before 3.44 has no ORDER BY inside an aggregate: the ordered subquery feeds it in order
    "sqlite": """
        UPDATE cases SET primary_division_ids = (
            SELECT group_concat(division_id, ',') FROM (
                SELECT division_id FROM case_divisions
                WHERE case_id = cases.id AND role = 'primary' ORDER BY division_id
            )
        )
    """,
}


def upgrade() -> None:
    # The yearly statistics counted cases by division through a join to case_divisions: thousands
    # of scattered index probes for a large organisation's year. With each case's primary divisions
    # on its row and in the period index, the count is one more column of the index-only scan.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_org_period")
        batch_op.add_column(
            sa.Column("primary_division_ids", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
    op.execute(BACKFILL[op.get_bind().dialect.name])
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_org_period", PERIOD_COLUMNS, unique=False)


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not batch's copy of the table: dropping the old
    # cases table fails the foreign keys of case_divisions and the other tables once cases exist
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_cases_org_period")
        batch_op.drop_column("primary_division_ids")
        batch_op.create_index("ix_cases_org_period", OLD_PERIOD_COLUMNS, unique=False)
