"""Cases: numbering, their primary divisions' copy, and the reads that find them."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from kernel.lifecycle import OPEN_STATES
from storage.models import Case, CaseCounter, CaseDivision
from storage.upsert import insert_for

_COUNTERS = CaseCounter.__table__  # type: ignore[attr-defined]


async def next_case_number(session: AsyncSession, org_id: int, be_year: int) -> int:
    """The next number in an organisation's year; the row lock serialises concurrent submits."""
    # one upsert: the year's first case creates the row, later ones add one under its lock
    insert = insert_for(session.get_bind().dialect.name)
    stmt = (
        insert(_COUNTERS)
        .values(org_id=org_id, be_year=be_year, last_seq=1)
        .on_conflict_do_update(
            index_elements=["org_id", "be_year"], set_={"last_seq": _COUNTERS.c.last_seq + 1}
        )
        .returning(_COUNTERS.c.last_seq)
    )
    return int((await session.execute(stmt)).scalar_one())


def primary_divisions_text(division_ids: Iterable[int]) -> str | None:
    """`Case.primary_division_ids` for these primary divisions: ids ascending, comma-joined; None for
    none (a case the coordinators handle)."""
    return ",".join(str(i) for i in sorted(set(division_ids))) or None


async def sync_primary_divisions(session: AsyncSession, case: Case) -> None:
    """Copy the case's primary divisions from case_divisions onto the case row. Call after every
    change to its primary rows (a transfer; a new case sets it from its routing without the read):
    the statistics count from the copy."""
    await session.flush()  # rows added or deleted so far are what the query must see
    ids = await session.execute(
        select(CaseDivision.division_id).where(
            col(CaseDivision.case_id) == case.id, col(CaseDivision.role) == "primary"
        )
    )
    case.primary_division_ids = primary_divisions_text(ids.scalars())


async def cases_of_reporter(session: AsyncSession, reporter_key: str, limit: int = 10) -> Sequence[Case]:
    stmt = (
        select(Case)
        .where(col(Case.reporter_key) == reporter_key)
        .order_by(col(Case.created_at).desc())
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def case_by_reference(session: AsyncSession, reference: str) -> Case | None:
    stmt = select(Case).where(col(Case.reference) == reference.upper())
    return (await session.execute(stmt)).scalar_one_or_none()


async def open_cases(
    session: AsyncSession, *, org_id: int | Collection[int], division_ids: Collection[int] | None = None
) -> Sequence[Case]:
    """Open cases of an organisation, or of several (or of some of their divisions), nearest
    deadline first."""
    orgs = col(Case.org_id) == org_id if isinstance(org_id, int) else col(Case.org_id).in_(list(org_id))
    stmt = select(Case).where(orgs, col(Case.status).in_(OPEN_STATES))
    if division_ids is not None:
        assigned = select(CaseDivision.case_id).where(col(CaseDivision.division_id).in_(list(division_ids)))
        stmt = stmt.where(col(Case.id).in_(assigned))
    stmt = stmt.order_by(col(Case.reply_due_at), col(Case.id))
    return (await session.execute(stmt)).scalars().all()


async def received_between(session: AsyncSession, org_id: int, start: datetime, end: datetime) -> int:
    stmt = select(func.count()).where(
        col(Case.org_id) == org_id, col(Case.created_at) >= start, col(Case.created_at) < end
    )
    return int((await session.execute(stmt)).scalar_one())


async def mean_rating(
    session: AsyncSession, org_id: int, start: datetime, end: datetime
) -> tuple[float | None, int]:
    """The reporters' mean score of the cases received in the period, and how many rated."""
    stmt = select(func.avg(col(Case.rating)), func.count(col(Case.rating))).where(
        col(Case.org_id) == org_id, col(Case.created_at) >= start, col(Case.created_at) < end
    )
    mean, rated = (await session.execute(stmt)).one()
    return (round(float(mean), 2) if mean is not None else None), int(rated)
