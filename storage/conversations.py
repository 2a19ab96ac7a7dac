"""Updates already handled, and each chat's conversation (its step, language and draft)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation, ProcessedUpdate
from storage.outbox import Messages, write_messages
from storage.upsert import insert_once, insert_once_on

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


class NotWrittenBack(Exception):
    """A turn's write-back was given up, nothing of it written: its update was handled before, or
    (`handled_before` False) someone wrote the conversation since the turn read it."""

    def __init__(self, *, handled_before: bool) -> None:
        super().__init__("handled before" if handled_before else "conversation written meanwhile")
        self.handled_before = handled_before


@dataclass(frozen=True)
class WriteBack:
    """A turn worked out on a session that only read, as it is written back."""

    channel: str
    update_key: str | None  # the update's key, claimed so a redelivery is dropped
    now: datetime
    convo: Conversation | None  # to store (None: nothing to remember), read when its state was ...
    read_state: str | None
    messages: Messages


def write_back(connection: Connection, turn: WriteBack) -> None:
    """Claim the update, store the conversation unless someone wrote it since it was read (a new
    one: unless someone inserted it meanwhile; its state is encrypted afresh, with a new random IV,
    at every write, so it tells) and queue the messages; or raise NotWrittenBack, which rolls all of
    it back (storage.db.Database.write_short)."""
    if turn.update_key is not None:
        claim = {"channel": turn.channel, "update_key": turn.update_key, "processed_at": turn.now}
        if not insert_once_on(connection, ProcessedUpdate, claim):
            raise NotWrittenBack(handled_before=True)
    convo = turn.convo
    if convo is not None:
        if convo.id is None:
            values = {"channel": convo.channel, "chat_key": convo.chat_key, **_values(convo)}
            stored = insert_once_on(connection, Conversation, values)
        else:
            values = {"conversation_id": convo.id, "read_state": turn.read_state, **_values(convo)}
            stored = bool(connection.execute(_UPDATE_UNCHANGED, values).rowcount)
        if not stored:
            raise NotWrittenBack(handled_before=False)
    write_messages(connection, turn.messages)
