"""the web chat's messages, waiting for the reporter's page

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chat_key", sa.String(64), nullable=False),
        sa.Column("author", sa.String(10), nullable=False),
        sa.Column("payload_enc", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_messages_chat_key", "web_messages", ["chat_key"])


def downgrade() -> None:
    op.drop_index("ix_web_messages_chat_key", table_name="web_messages")
    op.drop_table("web_messages")
