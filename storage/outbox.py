"""Queueing outgoing messages inside the caller's transaction (DESIGN.md rule 2)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.messages import TEXT_LIMIT, Reply, split_text
from storage.crypto import Vault
from storage.models import OutboxMessage


async def queue_message(
    session: AsyncSession,
    vault: Vault,
    *,
    org_id: int | None,
    case_id: int | None,
    kind: str,
    target: str,
    channel: str | None,
    chat_id: str | None,
    reply: Reply,
    now: datetime,
    status: str = "pending",
) -> OutboxMessage:
    """Queue `reply`; a long text becomes several rows, so a retry never repeats a sent piece."""
    if reply.media is None and reply.edit_message_id is None and len(reply.text) > TEXT_LIMIT:
        *head, last = split_text(reply.text)
        for piece in head:
            await queue_message(
                session, vault, org_id=org_id, case_id=case_id, kind=kind, target=target, channel=channel,
                chat_id=chat_id, reply=Reply(text=piece), now=now, status=status,
            )  # fmt: skip
        reply = replace(reply, text=last)
    row = OutboxMessage(
        org_id=org_id,
        case_id=case_id,
        kind=kind,
        target=target,
        channel=channel,
        chat_enc=vault.encrypt(chat_id) if chat_id is not None else None,
        chat_key=vault.lookup_key("outbox", channel, chat_id) if channel and chat_id is not None else None,
        status=status,
        payload_enc=vault.encrypt(reply.to_dict()),
        created_at=now,
        next_attempt_at=now,
    )
    session.add(row)
    return row
