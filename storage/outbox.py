"""Queueing outgoing messages inside the caller's transaction (DESIGN.md rule 2).

Queued rows are kept with the session and written by its commit (storage.db.UnitOfWork), all in
one INSERT: a submitted report queues its reply and a card per division in one statement. A
rollback drops them with everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.messages import TEXT_LIMIT, WEB_CHANNEL, Reply, split_text, text_units
from storage import web_chat
from storage.crypto import Vault
from storage.models import OutboxMessage
from storage.read_only import refuse_writes

_QUEUED = "outbox_rows"  # the session's `info` key for rows not yet written
OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]


@dataclass(slots=True)
class OutboxRow:
    """An outbox row as the dispatcher works on it: read as a plain row, which costs a fraction of
    an ORM object on a path every reply takes."""

    id: int
    org_id: int | None
    case_id: int | None
    kind: str
    target: str
    channel: str | None
    chat_enc: str | None
    chat_key: str | None
    status: str
    payload_enc: str | None
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    claimed_by: str | None = None


_INSERT = insert(OUTBOX)


@dataclass
class Messages:
    """Rows of queued messages, to be written in one INSERT per table (storage.conversations.write_back)."""

    outbox: list[dict[str, Any]] = field(default_factory=list)
    web: list[dict[str, Any]] = field(default_factory=list)  # the web chat's lines (storage.web_chat)


class To(TypedDict):
    """Where a message goes and what it is about (storage.models.OutboxMessage's columns)."""

    org_id: int | None
    case_id: int | None
    kind: str
    target: str
    channel: str | None
    chat_id: str | None
    status: NotRequired[str]  # "pending" unless said


async def queue_message(
    session: AsyncSession, vault: Vault, *, reply: Reply, now: datetime, **to: Unpack[To]
) -> None:
    """Queue `reply`; a long text becomes several rows, so a retry never repeats a sent piece."""
    refuse_writes(session)
    rows = message_rows(vault, reply=reply, now=now, **to)
    if rows.outbox:
        session.info.setdefault(_QUEUED, []).extend(rows.outbox)
    for line in rows.web:
        web_chat.queue_row(session, line)


def message_rows(
    vault: Vault, *, reply: Reply, now: datetime, into: Messages | None = None, **to: Unpack[To]
) -> Messages:
    """The rows that queue `reply` (added to `into`, if given)."""
    rows = Messages() if into is None else into
    channel, chat_id = to["channel"], to["chat_id"]
    pieces = [reply]
    if reply.media is None and reply.edit_message_id is None and text_units(reply.text) > TEXT_LIMIT:
        *head, last = split_text(reply.text)
        pieces = [*(Reply(text=piece) for piece in head), replace(reply, text=last)]
    for piece in pieces:
        if channel == WEB_CHANNEL and chat_id is not None:
            # nothing to send: the web chat's page shows it once this transaction commits
            rows.web.append(web_chat.line_row(vault, chat_id, "bot", piece, now))
            continue
        rows.outbox.append(
            {
                "org_id": to["org_id"],
                "case_id": to["case_id"],
                "kind": to["kind"],
                "target": to["target"],
                "channel": channel,
                "chat_enc": vault.encrypt(chat_id) if chat_id is not None else None,
                "chat_key": vault.lookup_key("outbox", channel, chat_id)
                if channel and chat_id is not None
                else None,
                "status": to.get("status", "pending"),
                "payload_enc": vault.encrypt(piece.to_dict()),
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "sent_at": None,
                "last_error": None,
            }
        )
    return rows


def write_messages(connection: Connection, rows: Messages) -> None:
    """Write `rows` on a plain connection, in order (ids keep each chat's order)."""
    if rows.outbox:
        connection.execute(_INSERT, rows.outbox)
    web_chat.write_rows(connection, rows.web)


async def write_queued(session: AsyncSession) -> None:
    """Write the rows queued in this session, in queueing order (ids keep each chat's order)."""
    rows = session.info.pop(_QUEUED, None)
    if rows:
        await session.execute(_INSERT, rows)
    await web_chat.write_queued(session)


def forget_queued(session: AsyncSession) -> None:
    """The transaction is given up: its queued rows go with it."""
    session.info.pop(_QUEUED, None)
    web_chat.forget_queued(session)
