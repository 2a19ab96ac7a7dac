"""Which chat each division, and the coordinators, are bound to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.crypto import Vault
from storage.models import ChatBinding, OutboxMessage

_ORG_CHATS = (
    select(col(ChatBinding.target), col(ChatBinding.channel), col(ChatBinding.chat_id))
    .where(col(ChatBinding.org_id) == bindparam("org_id"))
    .order_by(col(ChatBinding.target))
)
_TARGET_BINDINGS = select(ChatBinding).where(
    col(ChatBinding.org_id) == bindparam("org_id"), col(ChatBinding.target) == bindparam("target")
)


async def bindings_for(session: AsyncSession, org_id: int, target: str) -> Sequence[ChatBinding]:
    return (await session.execute(_TARGET_BINDINGS, {"org_id": org_id, "target": target})).scalars().all()


async def bindings_of_chat(session: AsyncSession, channel: str, chat_id: str) -> Sequence[ChatBinding]:
    stmt = select(ChatBinding).where(col(ChatBinding.channel) == channel, col(ChatBinding.chat_id) == chat_id)
    return (await session.execute(stmt)).scalars().all()


class BoundChat(NamedTuple):
    """Where a binding points (read as plain rows: cheaper than the ORM's objects)."""

    target: str
    channel: str
    chat_id: str


async def all_bindings(session: AsyncSession, org_id: int) -> list[BoundChat]:
    rows = await session.execute(_ORG_CHATS, {"org_id": org_id})
    return [BoundChat(*row) for row in rows]


async def bind_chat(
    session: AsyncSession,
    *,
    org_id: int,
    target: str,
    division_id: int | None,
    channel: str,
    chat_id: str,
    vault: Vault,
) -> int:
    """Point `target` at a chat and release the messages that waited for it; returns their count."""
    existing = (
        await session.execute(
            select(ChatBinding).where(
                col(ChatBinding.org_id) == org_id,
                col(ChatBinding.target) == target,
                col(ChatBinding.channel) == channel,
            )
        )
    ).scalar_one_or_none()
    if existing is None:
        session.add(
            ChatBinding(
                org_id=org_id, target=target, division_id=division_id, channel=channel, chat_id=chat_id
            )
        )
    else:
        existing.chat_id = chat_id
    result = await session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.org_id) == org_id,
            col(OutboxMessage.target) == target,
            col(OutboxMessage.status) == "waiting_binding",
        )
        .values(
            status="pending",
            channel=channel,
            chat_enc=vault.encrypt(chat_id),
            chat_key=vault.lookup_key("outbox", channel, chat_id),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
