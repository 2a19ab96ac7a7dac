"""Which rounds are open, their due dates, and who has not reported: read from the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.rounds.summary import RoundSummary, summarise_round
from kernel.fiscal import round_due, round_period, rounds_around
from kernel.org_config import OrgConfig
from storage import plan as plan_repo
from storage.models import PlanItem


@dataclass(frozen=True)
class Round:
    fiscal_year: int
    name: str
    due: date

    @property
    def key(self) -> str:
        return f"{self.fiscal_year}-{self.name}"


async def due_date(session: AsyncSession, org: OrgConfig, org_id: int, fiscal_year: int, name: str) -> date:
    override = await plan_repo.due_override(session, org_id, fiscal_year, name)
    return override or round_due(fiscal_year, name, due_6m=org.plan.due_6m, due_12m=org.plan.due_12m)


async def open_rounds(session: AsyncSession, org: OrgConfig, org_id: int, today: date) -> list[Round]:
    """Rounds whose period has begun and whose chasing has not ended, nearest due date first."""
    out = []
    for fiscal_year, name in rounds_around(today):
        start, _ = round_period(fiscal_year, name)
        due = await due_date(session, org, org_id, fiscal_year, name)
        if start <= today <= due + timedelta(days=org.plan.overdue_days):
            out.append(Round(fiscal_year, name, due))
    return sorted(out, key=lambda r: r.due)


def cutoff(org: OrgConfig, due: date, now: datetime) -> datetime:
    """Reports count up to the end of the due date (local time), or up to now before then."""
    end_of_due = datetime.combine(due + timedelta(days=1), time(), org.tz()) - timedelta(microseconds=1)
    return min(now, end_of_due)


async def round_items(session: AsyncSession, org_id: int, fiscal_year: int) -> list[PlanItem]:
    return await plan_repo.items_in_year(session, org_id, fiscal_year)


async def unreported(
    session: AsyncSession, org_id: int, fiscal_year: int, name: str, division_ids: set[int] | None = None
) -> dict[int, list[PlanItem]]:
    """division id → items with no report at all in the round (any report stops the chasing)."""
    items = [
        i
        for i in await round_items(session, org_id, fiscal_year)
        if division_ids is None or i.division_id in division_ids
    ]
    reported = {
        r.item_id for r in await plan_repo.reports_for(session, [i.id or 0 for i in items], fiscal_year, name)
    }
    out: dict[int, list[PlanItem]] = {}
    for item in items:
        if item.id not in reported:
            out.setdefault(item.division_id, []).append(item)
    return out


async def build_summary(
    session: AsyncSession,
    org: OrgConfig,
    org_id: int,
    division_codes: dict[int, str],
    fiscal_year: int,
    name: str,
    now: datetime,
) -> RoundSummary:
    items = await round_items(session, org_id, fiscal_year)
    reports = await plan_repo.reports_for(session, [i.id or 0 for i in items], fiscal_year, name)
    due = await due_date(session, org, org_id, fiscal_year, name)
    return summarise_round(
        org, fiscal_year=fiscal_year, round_name=name, items=items, reports=reports,
        cutoff=cutoff(org, due, now), division_codes=division_codes,
    )  # fmt: skip
