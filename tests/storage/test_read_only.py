"""A session opened `read_only` refuses every kind of write with WritesNeeded, and reads freely."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, update

from kernel.messages import Reply
from storage.crypto import Vault
from storage.db import Database
from storage.models import Conversation
from storage.outbox import queue_message
from storage.read_only import WritesNeeded

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


async def test_a_read_only_session_refuses_statements_flushes_and_queued_messages(
    database: Database, vault: Vault
) -> None:
    async with database.session(read_only=True) as session:
        assert (await session.execute(select(Conversation))).all() == []
        with pytest.raises(WritesNeeded):
            await session.execute(insert(Conversation).values(channel="test", chat_key="k", step="idle"))
        with pytest.raises(WritesNeeded):
            await session.execute(update(Conversation).values(step="menu"))
        session.add(Conversation(channel="test", chat_key="k", step="idle"))
        with pytest.raises(WritesNeeded):
            await session.flush()
        session.expunge_all()
        with pytest.raises(WritesNeeded):
            await queue_message(
                session, vault, org_id=None, case_id=None, kind="reply", target="reply", channel="test",
                chat_id="1", reply=Reply(text="hi"), now=NOW,
            )  # fmt: skip
    async with database.session(write=True) as session:  # an ordinary session writes as before
        session.add(Conversation(channel="test", chat_key="k", step="idle"))
        await session.commit()
    async with database.session() as session:
        assert len((await session.execute(select(Conversation))).all()) == 1
