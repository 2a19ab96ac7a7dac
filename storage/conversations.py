"""Updates already handled, and each chat's conversation (its step, language and draft)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation, ProcessedUpdate
from storage.upsert import insert_once

# Every turn reads and writes its conversation: on the table, not through the ORM's unit of work,
# whose flush cost several times the statement inside SQLite's single writer's turn.
_TABLE = Conversation.__table__  # type: ignore[attr-defined]
_READ = select(_TABLE).where(
    _TABLE.c.channel == bindparam("channel"), _TABLE.c.chat_key == bindparam("chat_key")
)
_INSERT = insert(_TABLE)
_UPDATE = update(_TABLE).where(_TABLE.c.id == bindparam("conversation_id"))
# the state is encrypted afresh (a new random IV) at every write, so it tells whether anyone wrote
_UPDATE_UNCHANGED = _UPDATE.where(_TABLE.c.state_enc.is_not_distinct_from(bindparam("read_state")))


async def claim_update(
    session: AsyncSession, channel: str, update_key: str, *, now: datetime | None = None
) -> bool:
    """Record an update as handled; False when it was handled before (a redelivery)."""
    values = {"channel": channel, "update_key": update_key, "processed_at": now or datetime.now(UTC)}
    return await insert_once(session, ProcessedUpdate, values)


async def get_conversation(session: AsyncSession, channel: str, chat_key: str) -> Conversation | None:
    """The chat's conversation, outside the session: the turn changes it freely and
    `store_conversation` writes it back once."""
    row = (await session.execute(_READ, {"channel": channel, "chat_key": chat_key})).mappings().first()
    return Conversation(**row) if row is not None else None


def _values(convo: Conversation) -> dict[str, Any]:
    return {
        "org_id": convo.org_id,
        "lang": convo.lang,
        "step": convo.step,
        "prompt_no": convo.prompt_no,
        "state_enc": convo.state_enc,
        "updated_at": convo.updated_at,
    }


async def store_conversation(session: AsyncSession, convo: Conversation) -> None:
    """Write the conversation: a new one is inserted, a loaded one updated."""
    if convo.id is None:
        new = {"channel": convo.channel, "chat_key": convo.chat_key}
        await session.execute(_INSERT, {**new, **_values(convo)})
    else:
        await session.execute(_UPDATE, {"conversation_id": convo.id, **_values(convo)})


async def store_if_unchanged(session: AsyncSession, convo: Conversation, read_state: str | None) -> bool:
    """Write the conversation read in another session, whose state was then `read_state`, unless
    someone wrote it since (or, a new one, inserted it meanwhile): False then, and nothing written."""
    if convo.id is None:
        values = {"channel": convo.channel, "chat_key": convo.chat_key, **_values(convo)}
        return await insert_once(session, Conversation, values)
    values = {"conversation_id": convo.id, "read_state": read_state, **_values(convo)}
    return bool((await session.execute(_UPDATE_UNCHANGED, values)).rowcount)  # type: ignore[attr-defined]
