"""The outbox's claim reads a chat's unsent messages through an index, not all it was ever sent

"No earlier message to this chat still waits" walked every row of the chat before the candidate
through `ix_outbox_chat_key`: a staff group's years of sent cards, for every claim. The new index
starts with the chat too, so it serves look-ups by chat as the old one did.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 23:50:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_chat_waiting", "outbox", ["chat_key", "status", "next_attempt_at"])
    op.drop_index("ix_outbox_chat_key", table_name="outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_chat_key", "outbox", ["chat_key"])
    op.drop_index("ix_outbox_chat_waiting", table_name="outbox")
