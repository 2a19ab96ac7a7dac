"""The desk's dashboard: the open cases a person may act on, by state and by division, the
overdue ones, and, for coordinators, the organisation's intake and speed this fiscal year."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from handlers.cases.desk_inbox import due_band
from handlers.cases.stats import summarise
from handlers.core.work import Work
from kernel.fiscal import fiscal_year_of, local_day_bounds, round_period
from kernel.org_config import OrgConfig
from storage import cases as case_repo
from storage.staff import StaffMember


@dataclass(frozen=True)
class Period:
    """The organisation this fiscal year so far (coordinators see it)."""

    fiscal_year: int
    received: int
    new_this_week: int
    new_this_month: int
    median_days_to_acknowledge: float | None
    median_days_to_close: float | None
    rating: float | None  # the reporters' mean score, 1 to 5
    rated: int


@dataclass(frozen=True)
class Dashboard:
    open_cases: int
    by_status: dict[str, int]
    by_division: dict[str, int]  # a case counts for each division responsible for it
    overdue_by_division: dict[str, int]
    period: Period | None


async def desk_dashboard(work: Work, *, member: StaffMember) -> Dashboard:
    org = work.services.org_of(member.org_id)
    codes = {did: code for (oc, code), did in work.services.directory.division_ids.items() if oc == org.code}
    scope = None if member.oversees else set(member.division_ids)
    found = await case_repo.open_cases(work.session, org_id=member.org_id, division_ids=scope)
    by_division: Counter[str] = Counter()
    overdue: Counter[str] = Counter()
    for case in found:
        responsible = [int(i) for i in (case.primary_division_ids or "").split(",") if i]
        late = due_band(case, work.now, org) == "overdue"
        for division_id in responsible or [0]:  # 0: no division, the coordinators handle it
            if scope is not None and division_id not in scope:
                continue
            code = codes.get(division_id, "coordinators")
            by_division[code] += 1
            overdue[code] += late
    period = await _period(work, member, org) if member.oversees else None
    return Dashboard(
        len(found), dict(Counter(c.status for c in found)), dict(by_division),
        {k: v for k, v in overdue.items() if v}, period,
    )  # fmt: skip


async def _period(work: Work, member: StaffMember, org: OrgConfig) -> Period:
    today = work.now.astimezone(org.tz()).date()
    year = fiscal_year_of(today)
    first, _ = round_period(year, "12m")
    start, end = local_day_bounds(first, today, org.tz())
    summary = await summarise(work.session, org, org_id=member.org_id, start=start, end=end)
    week_start, _ = local_day_bounds(today - timedelta(days=6), today, org.tz())
    month_start, _ = local_day_bounds(date(today.year, today.month, 1), today, org.tz())
    new_week = await case_repo.received_between(work.session, member.org_id, week_start, end)
    new_month = await case_repo.received_between(work.session, member.org_id, month_start, end)
    rating, rated = await case_repo.mean_rating(work.session, member.org_id, start, end)
    return Period(
        year, summary.total, new_week, new_month, summary.median_days_to_acknowledge,
        summary.median_days_to_close, rating, rated,
    )  # fmt: skip
