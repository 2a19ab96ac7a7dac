"""The complaint statistics a local government publishes (ITA asks for them per 6- and 12-month
round): counts by type, category and outcome, median days to acknowledge and to close, and
satisfaction, for the public page /stats/<org> and its CSV.

What may identify someone is held back: corruption tip-offs appear only as one count per round (no
category, outcome or timing), and every count under 5, and every median or mean drawn from fewer than
5 cases, is shown as "< 5".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlmodel import col

from handlers.cases.cards import category_label
from handlers.cases.stats import Summary, summarise
from handlers.core.work import Work
from kernel.deadlines import BE_OFFSET
from kernel.fiscal import ROUNDS, fiscal_year_of, local_day_bounds, round_period
from kernel.i18n import t
from kernel.org_config import OrgConfig
from storage.audit import ChainHead, chain_head
from storage.models import AuditAnchor, Case

SUPPRESS_BELOW = 5
HIDDEN = "< 5"
# reported only as a count: a category, an outcome or a date narrows a tip-off down to its reporter
COUNT_ONLY = ("corruption",)
YEARS_SHOWN = 3


@dataclass(frozen=True)
class RoundFigures:
    fiscal_year: int  # Buddhist era
    round_name: str  # "6m" or "12m"
    first_day: date
    last_day: date
    to_date: bool  # the round is still running: its figures so far
    total: int
    by_type: tuple[tuple[str, int], ...]
    by_category: tuple[tuple[str, str, int], ...]
    by_outcome: tuple[tuple[str, int], ...]
    median_days_to_acknowledge: float | None
    median_days_to_close: float | None
    # the cases each median is drawn from (acknowledged, closed)
    acknowledged: int
    closed: int
    ratings: int
    mean_rating: float | None


@dataclass(frozen=True)
class PublishedChain:
    """The audit chain's head as it stands, and as it was kept on each recent day (its daily row),
    for an outsider to note down and check later with `damrongtham audit verify --head LENGTH:HASH`."""

    head: ChainHead
    days: tuple[ChainHead, ...]
    day_of: tuple[date, ...]


def shown(value: int | float | None, *, based_on: int | None = None) -> str:
    """A cell as the public sees it: a count under 5, or a figure drawn from fewer than 5 cases, hidden."""
    if value is None:
        return "–"
    if based_on is not None and based_on < SUPPRESS_BELOW:
        return HIDDEN
    if isinstance(value, int) and based_on is None and 0 < value < SUPPRESS_BELOW:
        return HIDDEN
    return f"{value:.2f}" if isinstance(value, float) else str(value)


async def open_figures(work: Work, org: OrgConfig, *, today: date | None = None) -> list[RoundFigures]:
    """Each round of the current and the previous fiscal years, newest first."""
    org_id = work.services.directory.org_ids[org.code]
    today = today or work.now.astimezone(org.tz()).date()
    current = fiscal_year_of(today)
    out: list[RoundFigures] = []
    for year in range(current, current - YEARS_SHOWN, -1):
        for round_name in reversed(ROUNDS):
            first, last = round_period(year, round_name)
            if first > today or (round_name == "12m" and round_period(year, "6m")[1] >= today):
                continue  # not begun, or still the same months as the running 6-month round
            out.append(
                await _round(work, org, org_id, year, round_name, first, min(last, today), last > today)
            )
    return [r for r in out if r.total or r.to_date]


async def _round(
    work: Work,
    org: OrgConfig,
    org_id: int,
    year: int,
    round_name: str,
    first: date,
    last: date,
    to_date: bool,
) -> RoundFigures:
    start, end = local_day_bounds(first, last, org.tz())
    everything = await summarise(work.session, org, org_id=org_id, start=start, end=end)
    others = [rt for rt in everything.by_type if rt not in COUNT_ONLY]
    public = (
        await summarise(work.session, org, org_id=org_id, start=start, end=end, types=others)
        if others
        else Summary()
    )
    acknowledged, closed, ratings, mean = await _timings_and_ratings(work, org_id, start, end, others)
    return RoundFigures(
        year, round_name, first, last, to_date, everything.total,
        tuple(sorted(everything.by_type.items())),
        tuple(sorted((rt, code, n) for (rt, code), n in public.by_category.items())),
        tuple(sorted(public.by_outcome.items())),
        public.median_days_to_acknowledge, public.median_days_to_close, acknowledged, closed, ratings, mean,
    )  # fmt: skip


async def _timings_and_ratings(
    work: Work, org_id: int, start: datetime, end: datetime, types: list[str]
) -> tuple[int, int, int, float | None]:
    if not types:
        return 0, 0, 0, None
    period = (
        (col(Case.org_id) == org_id)
        & (col(Case.created_at) >= start)
        & (col(Case.created_at) < end)
        & col(Case.report_type).in_(types)
    )
    counted = select(
        func.count(col(Case.acknowledged_at)), func.count(col(Case.closed_at)), func.count(col(Case.rating)),
        func.avg(col(Case.rating)),
    ).where(period)  # fmt: skip
    acknowledged, closed, ratings, mean = (await work.session.execute(counted)).one()
    return int(acknowledged), int(closed), int(ratings), round(float(mean), 2) if mean is not None else None


async def published_chain(work: Work, *, days: int = 7) -> PublishedChain:
    anchors = list(
        (
            await work.session.execute(select(AuditAnchor).order_by(col(AuditAnchor.day).desc()).limit(days))
        ).scalars()
    )
    return PublishedChain(
        await chain_head(work.session),
        tuple(ChainHead(a.length, a.hash) for a in anchors),
        tuple(a.day for a in anchors),
    )


def round_title(r: RoundFigures, lang: str) -> str:
    year = r.fiscal_year if lang == "th" else r.fiscal_year - BE_OFFSET
    return t(lang, f"figures.round_{r.round_name}", year=year) + (
        f" ({t(lang, 'figures.to_date')})" if r.to_date else ""
    )


def figure_rows(r: RoundFigures, org: OrgConfig, lang: str) -> list[tuple[str, str, str]]:
    """(section, item, shown value) rows: the same for the page and the CSV."""
    rows: list[tuple[str, str, str]] = [(t(lang, "stats.total"), "", shown(r.total))]
    rows += [(t(lang, "stats.by_type"), t(lang, "type." + rt), shown(n)) for rt, n in r.by_type]
    rows += [
        (
            t(lang, "stats.by_category"),
            f"{t(lang, 'type.' + rt)}: {category_label(org, rt, code, lang)}",
            shown(n),
        )
        for rt, code, n in r.by_category
    ]
    rows += [
        (t(lang, "stats.by_outcome"), t(lang, "status." + status), shown(n)) for status, n in r.by_outcome
    ]
    rows.append(
        (t(lang, "stats.median_ack"), "", shown(r.median_days_to_acknowledge, based_on=r.acknowledged))
    )
    rows.append((t(lang, "stats.median_close"), "", shown(r.median_days_to_close, based_on=r.closed)))
    rows.append((t(lang, "figures.satisfaction"), "", shown(r.mean_rating, based_on=r.ratings)))
    return rows
