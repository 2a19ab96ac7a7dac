"""Queueing outgoing messages inside the caller's transaction (DESIGN.md rule 2)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.messages import Reply
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
