"""the blind word index of cases, for searching their encrypted text by words

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_terms",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("term", sqlmodel.sql.sqltypes.AutoString(length=16), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False),
    )
    op.create_index("ix_case_terms_org_term", "case_terms", ["org_id", "term"])


def downgrade() -> None:
    op.drop_index("ix_case_terms_org_term", table_name="case_terms")
    op.drop_table("case_terms")
