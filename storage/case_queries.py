"""Read-only case queries for staff lists and reminders."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from kernel.lifecycle import OPEN_STATES
from storage.models import Case, CaseDivision


async def open_cases(
    session: AsyncSession, *, org_id: int, division_ids: Collection[int] | None = None
) -> Sequence[Case]:
    """Open cases of an organisation (or of some of its divisions), nearest deadline first."""
    stmt = select(Case).where(col(Case.org_id) == org_id, col(Case.status).in_(OPEN_STATES))
    if division_ids is not None:
        assigned = select(CaseDivision.case_id).where(col(CaseDivision.division_id).in_(list(division_ids)))
        stmt = stmt.where(col(Case.id).in_(assigned))
    stmt = stmt.order_by(col(Case.reply_due_at), col(Case.id))
    return (await session.execute(stmt)).scalars().all()
