"""Plan items, round due dates and progress reports."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import PlanItem, ProgressReport, RoundDue


def years_of(item: PlanItem) -> set[int]:
    return {int(y) for y in item.fiscal_years.split(",") if y}


async def items_of(session: AsyncSession, org_id: int) -> list[PlanItem]:
    stmt = select(PlanItem).where(col(PlanItem.org_id) == org_id).order_by(col(PlanItem.code))
    return list((await session.execute(stmt)).scalars())


async def items_in_year(session: AsyncSession, org_id: int, fiscal_year: int) -> list[PlanItem]:
    return [i for i in await items_of(session, org_id) if fiscal_year in years_of(i)]


async def upsert_item(
    session: AsyncSession, *, org_id: int, code: str, values: dict[str, Any], now: datetime
) -> bool:
    """Create or update an item by its code; True when it was new."""
    item = (
        await session.execute(
            select(PlanItem).where(col(PlanItem.org_id) == org_id, col(PlanItem.code) == code)
        )
    ).scalar_one_or_none()
    if item is None:
        session.add(PlanItem(org_id=org_id, code=code, updated_at=now, **values))
        return True
    for key, value in values.items():
        setattr(item, key, value)
    item.updated_at = now
    return False


async def due_override(session: AsyncSession, org_id: int, fiscal_year: int, round_name: str) -> date | None:
    row = await session.get(RoundDue, (org_id, fiscal_year, round_name))
    return row.due_date if row else None


async def set_due(session: AsyncSession, org_id: int, fiscal_year: int, round_name: str, due: date) -> None:
    row = await session.get(RoundDue, (org_id, fiscal_year, round_name))
    if row is None:
        session.add(RoundDue(org_id=org_id, fiscal_year=fiscal_year, round=round_name, due_date=due))
    else:
        row.due_date = due


async def add_report(
    session: AsyncSession,
    *,
    item: PlanItem,
    fiscal_year: int,
    round_name: str,
    status: str,
    note: str | None,
    evidence: list[dict[str, Any]] | None,
    actor: str,
    at: datetime,
) -> ProgressReport:
    report = ProgressReport(
        org_id=item.org_id, item_id=item.id or 0, fiscal_year=fiscal_year, round=round_name, status=status,
        note=note, evidence_json=json.dumps(evidence, ensure_ascii=False) if evidence else None, actor=actor,
        reported_at=at,
    )  # fmt: skip
    session.add(report)
    await session.flush()
    return report


async def reports_for(
    session: AsyncSession, item_ids: Sequence[int], fiscal_year: int, round_name: str
) -> list[ProgressReport]:
    """Every report of these items in a round, oldest first (the history)."""
    if not item_ids:
        return []
    stmt = (
        select(ProgressReport)
        .where(
            col(ProgressReport.item_id).in_(list(item_ids)),
            col(ProgressReport.fiscal_year) == fiscal_year,
            col(ProgressReport.round) == round_name,
        )
        .order_by(col(ProgressReport.reported_at), col(ProgressReport.id))
    )
    return list((await session.execute(stmt)).scalars())
