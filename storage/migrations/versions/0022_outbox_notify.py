"""On PostgreSQL, a queued message notifies the process that sends its channel (bot/outbox/election.py)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 13:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # one process per platform on SQLite: it wakes its own sender
    # once per statement, delivered at commit (a transaction's identical notices go as one)
    op.execute(
        """
        CREATE FUNCTION damrongtham_outbox_queued() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('damrongtham_outbox', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER outbox_queued AFTER INSERT ON outbox "
        "FOR EACH STATEMENT EXECUTE FUNCTION damrongtham_outbox_queued()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS outbox_queued ON outbox")
    op.execute("DROP FUNCTION IF EXISTS damrongtham_outbox_queued()")
