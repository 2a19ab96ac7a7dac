"""the name a document came with is kept encrypted: a longer column for its token

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 04:00:00.000000

Names kept in clear by an earlier version are encrypted at the next start or `db upgrade`
(storage.evidence.convert_names), which holds the secret key that this migration does not.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.alter_column("file_name", type_=sa.Text(), existing_type=sa.String(300), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.alter_column("file_name", type_=sa.String(300), existing_type=sa.Text(), existing_nullable=True)
