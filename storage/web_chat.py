"""The web chat's messages, kept for the reporter's page (a web reporter has no app to deliver to).

The bot's messages are queued like every other channel's, in the transaction of the change that
caused them (storage.outbox), and land here instead of the outbox: the page shows them as soon as
that transaction commits. What the citizen sent is kept beside them, so the page reads as a chat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kernel.messages import Reply
from storage.crypto import Vault
from storage.models import WebMessage
from storage.read_only import refuse_writes

Author = Literal["bot", "citizen"]
WEB_MESSAGES = WebMessage.__table__  # type: ignore[attr-defined]
_QUEUED = "web_chat_rows"  # the session's `info` key for lines its commit writes
_INSERT = insert(WEB_MESSAGES)


@dataclass(frozen=True, slots=True)
class WebLine:
    id: int
    author: Author
    reply: Reply
    at: datetime


def chat_key(vault: Vault, chat_id: str) -> str:
    return vault.lookup_key("web-chat", chat_id)


def queue_line(
    session: AsyncSession, vault: Vault, chat_id: str, author: Author, reply: Reply, now: datetime
) -> None:
    """A line of the conversation, written by the session's commit (storage.db.UnitOfWork) with the
    bot's other messages of the turn, all in one INSERT, in the order they were queued."""
    queue_row(session, line_row(vault, chat_id, author, reply, now))


def queue_row(session: AsyncSession, line: dict[str, Any]) -> None:
    refuse_writes(session)
    session.info.setdefault(_QUEUED, []).append(line)


def line_row(vault: Vault, chat_id: str, author: Author, reply: Reply, now: datetime) -> dict[str, Any]:
    return {
        "chat_key": chat_key(vault, chat_id),
        "author": author,
        "payload_enc": vault.encrypt(reply.to_dict()),
        "created_at": now,
    }


def write_rows(connection: Connection, lines: list[dict[str, Any]]) -> None:
    if lines:
        connection.execute(_INSERT, lines)


async def write_queued(session: AsyncSession) -> None:
    lines = session.info.pop(_QUEUED, None)
    if lines:
        await session.execute(_INSERT, lines)


def forget_queued(session: AsyncSession) -> None:
    session.info.pop(_QUEUED, None)


async def transcript(
    session: AsyncSession, vault: Vault, chat_id: str, *, after: int = 0, limit: int = 80
) -> list[WebLine]:
    """The conversation's last `limit` messages after id `after`, oldest first."""
    rows = (
        await session.execute(
            select(WEB_MESSAGES)
            .where(WEB_MESSAGES.c.chat_key == chat_key(vault, chat_id), WEB_MESSAGES.c.id > after)
            .order_by(WEB_MESSAGES.c.id.desc())
            .limit(limit)
        )
    ).all()
    return [
        WebLine(r.id, r.author, Reply.from_dict(vault.decrypt(r.payload_enc)), r.created_at)
        for r in reversed(rows)
    ]


async def forget_before(session: AsyncSession, moment: datetime) -> int:
    """Messages older than `moment` go: the case's history stays on the tracking page."""
    result = await session.execute(delete(WebMessage).where(col(WebMessage.created_at) < moment))
    return int(result.rowcount)  # type: ignore[attr-defined]
