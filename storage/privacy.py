"""Reads and writes behind the PDPA controls: cases due for erasure, a reporter's count of
reports, and the stored references of a case's files."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from kernel.lifecycle import TERMINAL_STATES
from storage.models import Attachment, Case

ERASED_KEY = "erased"  # a case's reporter key once it is linked to no account

_REPORTS_SINCE = select(func.count()).where(
    col(Case.reporter_key) == bindparam("reporter_key"), col(Case.created_at) > bindparam("since")
)


async def reports_since(session: AsyncSession, reporter_key: str, since: datetime) -> int:
    """How many cases this account reported after `since` (a submit asks, so it is one count)."""
    found = await session.execute(_REPORTS_SINCE, {"reporter_key": reporter_key, "since": since})
    return int(found.scalar_one())


async def closed_before(session: AsyncSession, org_id: int, cutoff: datetime) -> Sequence[Case]:
    """Cases closed before `cutoff` whose reporter's data is still held, oldest first."""
    stmt = select(Case).where(
        col(Case.org_id) == org_id,
        col(Case.status).in_(TERMINAL_STATES),
        col(Case.closed_at) < cutoff,
        col(Case.reporter_key) != ERASED_KEY,
    )
    return (await session.execute(stmt.order_by(col(Case.closed_at)))).scalars().all()


async def erase_file_references(session: AsyncSession, case_id: int) -> set[str]:
    """The case's files can no longer be fetched: their references on the channel and their hashes
    go. Returns the hashes of held files no other case refers to, whose bytes are to be deleted."""
    held = select(col(Attachment.sha256)).where(
        col(Attachment.case_id) == case_id, col(Attachment.sha256).is_not(None)
    )
    hashes = {str(sha) for sha in (await session.execute(held)).scalars()}
    await session.execute(
        update(Attachment)
        .where(col(Attachment.case_id) == case_id)
        .values(file_id="erased", file_unique_id=None, file_name=None, sha256=None)
    )
    if not hashes:
        return set()
    # the same photo sent with another report stays for that one
    shared = select(col(Attachment.sha256)).where(col(Attachment.sha256).in_(hashes))
    return hashes - {str(sha) for sha in (await session.execute(shared)).scalars()}
