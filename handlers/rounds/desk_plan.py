"""The plan as the desk shows it: a round's items with their latest status, who has not reported,
the due date and days left, and (for coordinators) the round summary per dimension."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from handlers.core.work import Work
from handlers.rounds.periods import Round, cutoff, due_date, open_rounds, round_items
from handlers.rounds.summary import RoundSummary, latest_status, summarise_round
from kernel.fiscal import fiscal_year_of
from kernel.org_config import OrgConfig
from storage import plan as plan_repo
from storage.models import PlanItem
from storage.staff import StaffMember

ROUNDS = ("6m", "12m")


@dataclass(frozen=True)
class ItemLine:
    item: PlanItem
    division: str
    status: str | None  # the latest report that counts (by the end of the due date), if any


@dataclass(frozen=True)
class OrgRound:
    """One organisation's state in the round, for a province coordinator."""

    org: OrgConfig
    due: date
    items: int
    reported: int  # items with a report
    summary: RoundSummary  # done, per dimension, by the due date


@dataclass(frozen=True)
class PlanOverview:
    round: Round
    days_left: int
    lines: list[ItemLine]  # the items the person sees: their divisions', or all for coordinators
    # division code → (items, items with a report)
    by_division: dict[str, tuple[int, int]]
    summary: RoundSummary | None  # coordinators only
    # a province coordinator: the same round in every organisation of the deployment
    province: list[OrgRound] = field(default_factory=list)


async def plan_overview(
    work: Work, *, member: StaffMember, fiscal_year: int | None = None, round_name: str | None = None
) -> PlanOverview:
    org = work.services.org_of(member.org_id)
    today = work.now.astimezone(org.tz()).date()
    chosen = await _round(work, org_id=member.org_id, today=today, fiscal_year=fiscal_year, name=round_name)
    codes = {did: code for (oc, code), did in work.services.directory.division_ids.items() if oc == org.code}
    items = await round_items(work.session, member.org_id, chosen.fiscal_year)
    reports = await plan_repo.reports_for(
        work.session, [i.id or 0 for i in items], chosen.fiscal_year, chosen.name
    )
    status = latest_status(reports, cutoff(org, chosen.due, work.now))
    reported = {r.item_id for r in reports}
    mine = [i for i in items if member.oversees or i.division_id in member.division_ids]
    by_division: dict[str, tuple[int, int]] = {}
    for item in mine:
        total, done = by_division.get(codes[item.division_id], (0, 0))
        by_division[codes[item.division_id]] = (total + 1, done + (item.id in reported))
    summary = None
    if member.oversees:
        summary = summarise_round(
            org, fiscal_year=chosen.fiscal_year, round_name=chosen.name, items=items, reports=reports,
            cutoff=cutoff(org, chosen.due, work.now), division_codes=codes,
        )  # fmt: skip
    lines = [ItemLine(i, codes[i.division_id], status.get(i.id or 0)) for i in mine]
    province = await _province(work, chosen.fiscal_year, chosen.name) if member.sees_province else []
    return PlanOverview(chosen, (chosen.due - today).days, lines, by_division, summary, province)


async def _province(work: Work, fiscal_year: int, round_name: str) -> list[OrgRound]:
    """Each organisation's items, reported items and summary for the same round, by its own due date."""
    found = []
    for org in work.services.orgs.all:
        org_id = work.services.directory.org_ids[org.code]
        codes = {
            did: code for (oc, code), did in work.services.directory.division_ids.items() if oc == org.code
        }
        due = await due_date(work.session, org, org_id, fiscal_year, round_name)
        items = await round_items(work.session, org_id, fiscal_year)
        reports = await plan_repo.reports_for(
            work.session, [i.id or 0 for i in items], fiscal_year, round_name
        )
        summary = summarise_round(
            org, fiscal_year=fiscal_year, round_name=round_name, items=items, reports=reports,
            cutoff=cutoff(org, due, work.now), division_codes=codes,
        )  # fmt: skip
        found.append(OrgRound(org, due, len(items), len({r.item_id for r in reports}), summary))
    return found


async def _round(work: Work, *, org_id: int, today: date, fiscal_year: int | None, name: str | None) -> Round:
    """The round asked for, else the earliest still open, else this fiscal year's 12-month round."""
    org = work.services.org_of(org_id)
    if fiscal_year is not None and name in ROUNDS:
        assert name is not None
        return Round(fiscal_year, name, await due_date(work.session, org, org_id, fiscal_year, name))
    rounds = await open_rounds(work.session, org, org_id, today)
    if rounds:
        return rounds[0]
    year = fiscal_year_of(today)
    return Round(year, "12m", await due_date(work.session, org, org_id, year, "12m"))
