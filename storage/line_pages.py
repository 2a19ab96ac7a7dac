"""LINE shows at most 13 quick replies, so a longer list goes a page at a time; the list is kept
here until the chat's next one, so the "more" press is answered by whichever process receives it.
Encrypted like every message, found by a keyed hash of the chat id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kernel.messages import Reply
from storage.crypto import Vault
from storage.models import LinePage
from storage.upsert import insert_for


def _key(vault: Vault, chat_id: str) -> str:
    return vault.lookup_key("line-pages", chat_id)


async def keep(session: AsyncSession, vault: Vault, chat_id: str, reply: Reply, now: datetime) -> None:
    """The chat's list is now `reply` (the caller commits)."""
    values = {
        "chat_key": _key(vault, chat_id),
        "reply_enc": vault.encrypt(reply.to_dict()),
        "updated_at": now,
    }
    insert = insert_for(session.get_bind().dialect.name)(LinePage.__table__)  # type: ignore[attr-defined]
    await session.execute(
        insert.values(**values).on_conflict_do_update(
            index_elements=["chat_key"], set_={"reply_enc": values["reply_enc"], "updated_at": now}
        )
    )


async def latest(session: AsyncSession, vault: Vault, chat_id: str) -> Reply | None:
    found = (
        await session.execute(
            select(col(LinePage.reply_enc)).where(col(LinePage.chat_key) == _key(vault, chat_id))
        )
    ).scalar_one_or_none()
    return None if found is None else Reply.from_dict(vault.decrypt(found))


async def forget_before(session: AsyncSession, moment: datetime) -> int:
    """Lists not replaced since `moment` go: a "more" press that late answers nothing."""
    result = await session.execute(delete(LinePage).where(col(LinePage.updated_at) < moment))
    return int(result.rowcount)  # type: ignore[attr-defined]
