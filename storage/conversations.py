"""Updates already handled, and each chat's conversation (its step, language and draft)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Conversation, ProcessedUpdate
from storage.upsert import insert_for

_CONVERSATION = select(Conversation).where(
    col(Conversation.channel) == bindparam("channel"), col(Conversation.chat_key) == bindparam("chat_key")
)


async def claim_update(
    session: AsyncSession, channel: str, update_key: str, *, now: datetime | None = None
) -> bool:
    """Record an update as handled; False when it was handled before (a redelivery)."""
    insert = insert_for(session.get_bind().dialect.name)
    values = {"channel": channel, "update_key": update_key, "processed_at": now or datetime.now(UTC)}
    result = await session.execute(insert(ProcessedUpdate).values(**values).on_conflict_do_nothing())
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def get_conversation(session: AsyncSession, channel: str, chat_key: str) -> Conversation | None:
    """The chat's conversation, detached: the turn changes it freely and `store_conversation` puts it
    back once, so a query in the middle of the turn never writes it early."""
    found = (
        await session.execute(_CONVERSATION, {"channel": channel, "chat_key": chat_key})
    ).scalar_one_or_none()
    if found is not None:
        session.expunge(found)
    return found


def store_conversation(session: AsyncSession, convo: Conversation) -> None:
    """Write the conversation at the commit: a new one is inserted, a loaded one updated."""
    session.add(convo)
