"""Complaint statistics for the 6- and 12-month summaries a complaint centre publishes.

Counts by type, category, division, month and outcome, and the median days to acknowledge and to
close. Built from case rows only: no personal data enters a statistic or an export.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from itertools import groupby
from operator import itemgetter
from statistics import median
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from handlers.cases.cards import category_label
from kernel.deadlines import BE_OFFSET, EN_MONTHS, TH_MONTHS
from kernel.fiscal import fiscal_year_of
from kernel.i18n import t
from kernel.org_config import OrgConfig
from storage.models import Case, CaseDivision, Division


@dataclass(frozen=True)
class CaseRow:
    """One case as exports and statistics see it."""

    reference: str
    received: datetime
    report_type: str
    category: str
    concerns_personnel: str
    divisions: tuple[str, ...]
    status: str
    anonymous: bool
    acknowledged: datetime | None
    closed: datetime | None
    rating: int | None

    @property
    def days_to_acknowledge(self) -> float | None:
        return _days(self.received, self.acknowledged)

    @property
    def days_to_close(self) -> float | None:
        return _days(self.received, self.closed)


def _days(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 86400, 2)


async def case_rows(session: AsyncSession, *, org_id: int, start: datetime, end: datetime) -> list[CaseRow]:
    # One query through the (org_id, created_at) index, with only the columns a row needs (the
    # encrypted ones are most of a case's size) and each case's primary divisions joined in. A second
    # query listing every case id of the period made PostgreSQL read all of case_divisions for a
    # large organisation's year, and fails past asyncpg's limit of 32,767 parameters.
    stmt = (
        sa_select(
            col(Case.id), col(Case.reference), col(Case.created_at), col(Case.report_type),
            col(Case.category), col(Case.concerns_personnel), col(Case.status), col(Case.anonymous),
            col(Case.acknowledged_at), col(Case.closed_at), col(Case.rating), col(Division.code),
        )
        .outerjoin(
            CaseDivision,
            (col(CaseDivision.case_id) == col(Case.id)) & (col(CaseDivision.role) == "primary"),
        )
        .outerjoin(Division, col(Division.id) == col(CaseDivision.division_id))
        .where(col(Case.org_id) == org_id, col(Case.created_at) >= start, col(Case.created_at) < end)
        .order_by(col(Case.created_at), col(Case.id))
    )  # fmt: skip
    out: list[CaseRow] = []
    # a case with several primary divisions comes as one row per division, one after the other
    for _, group in groupby((await session.execute(stmt)).all(), key=itemgetter(0)):
        rows = list(group)
        c = rows[0]
        codes: tuple[str, ...] = tuple(sorted(r.code for r in rows if r.code is not None))
        out.append(
            CaseRow(
                c.reference,
                c.created_at,
                c.report_type,
                c.category,
                c.concerns_personnel,
                codes,
                c.status,
                c.anonymous,
                c.acknowledged_at,
                c.closed_at,
                c.rating,
            )
        )
    return out


@dataclass
class Summary:
    total: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_category: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_division: Counter[str] = field(default_factory=Counter)
    by_month: Counter[tuple[int, int]] = field(default_factory=Counter)
    by_outcome: Counter[str] = field(default_factory=Counter)
    median_days_to_acknowledge: float | None = None
    median_days_to_close: float | None = None


async def summarise(
    session: AsyncSession,
    org: OrgConfig,
    *,
    org_id: int,
    start: datetime,
    end: datetime,
    types: Collection[str] | None = None,
) -> Summary:
    """Counted by the database: a large organisation's year is tens of thousands of cases, and
    turning each into a Python object costs far more than counting it where it lies. `types`: only
    reports of these types."""
    period = (col(Case.org_id) == org_id) & (col(Case.created_at) >= start) & (col(Case.created_at) < end)
    if types is not None:
        period = period & col(Case.report_type).in_(types)
    s = Summary()
    months = _local_months(start, end, org.tz())
    # which of the period's months a case falls in: the first whose end is after it
    month_no = case(*((col(Case.created_at) < hi, n) for n, (_, _, hi) in enumerate(months)), else_=-1)
    kinds = await session.execute(
        sa_select(col(Case.report_type), col(Case.category), col(Case.status), month_no, func.count())
        .where(period)
        .group_by(col(Case.report_type), col(Case.category), col(Case.status), month_no)
    )
    for report_type, category, status, n_month, n in kinds.all():
        s.total += n
        s.by_type[report_type] += n
        s.by_category[(report_type, category)] += n
        s.by_outcome[status] += n
        s.by_month[months[n_month][0]] += n
    if not s.total:
        return s
    # each case's primary divisions are on its row (storage.cases.sync_primary_divisions), in
    # the period index: a join to case_divisions cost a random probe per case of a large year
    by_ids = await session.execute(
        sa_select(col(Case.primary_division_ids), func.count())
        .where(period)
        .group_by(col(Case.primary_division_ids))
    )
    per_division: Counter[int] = Counter()
    for ids, n in by_ids.all():
        if not ids:
            s.by_division["coordinators"] += n  # no primary division: the coordinators'
            continue
        for one in ids.split(","):
            per_division[int(one)] += n  # a case with several counts for each
    if per_division:
        org_divisions = sa_select(col(Division.id), col(Division.code)).where(col(Division.org_id) == org_id)
        codes = {i: code for i, code in (await session.execute(org_divisions)).all()}
        for division_id, n in per_division.items():
            s.by_division[codes[division_id]] += n
    dialect = session.get_bind().dialect.name
    acknowledged, closed = col(Case.acknowledged_at), col(Case.closed_at)
    to_acknowledge = _seconds_between(dialect, col(Case.created_at), acknowledged)
    to_close = _seconds_between(dialect, col(Case.created_at), closed)
    if dialect == "postgresql":
        # only the middle values come back, not one row per case (9,400 in a large year)
        s.median_days_to_acknowledge, s.median_days_to_close = await _medians(
            session, period, to_acknowledge, to_close
        )
        return s
    durations = await session.execute(
        sa_select(to_acknowledge, to_close).where(period, acknowledged.is_not(None) | closed.is_not(None))
    )
    acks: list[float] = []
    closes: list[float] = []
    for ack, close in durations.all():
        if ack is not None:
            acks.append(_rounded_days(ack))
        if close is not None:
            closes.append(_rounded_days(close))
    s.median_days_to_acknowledge = round(median(acks), 2) if acks else None
    s.median_days_to_close = round(median(closes), 2) if closes else None
    return s


def _rounded_days(seconds: Any) -> float:
    return round(float(seconds) / 86400, 2)  # as _days() rounds them


# percentile_disc gives the first value at or past a fraction of the ordered values: at 0.5 the
# lower middle one (the middle one of an odd count), just past 0.5 the upper middle one
_JUST_PAST_HALF = 0.5 + 1e-9


async def _medians(session: AsyncSession, period: Any, *durations: Any) -> list[float | None]:
    """The median of each duration in days, the same value `statistics.median` gives over the
    exported rows' rounded days: rounding keeps the order, so the middle values are the rounded
    middle values, and their mean is taken here as `median` takes it."""
    columns: list[Any] = []
    for seconds in durations:
        columns += [
            func.count(seconds),
            func.percentile_disc(0.5).within_group(seconds),
            func.percentile_disc(_JUST_PAST_HALF).within_group(seconds),
        ]
    row = (await session.execute(sa_select(*columns).where(period))).one()
    medians: list[float | None] = []
    for count, lower, upper in zip(row[0::3], row[1::3], row[2::3], strict=True):
        if not count:
            medians.append(None)
            continue
        low, high = _rounded_days(lower), _rounded_days(upper)
        medians.append(round(low if count % 2 else (low + high) / 2, 2))
    return medians


def _seconds_between(dialect: str, start: Any, end: Any) -> Any:
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    # SQLite keeps datetimes as ISO text in UTC
    return (func.julianday(end) - func.julianday(start)) * 86400.0


Month = tuple[tuple[int, int], datetime, datetime]  # (year, month) locally, first and last instant


def _local_months(start: datetime, end: datetime, tz: tzinfo) -> list[Month]:
    """The calendar months (in the organisation's time zone) the period touches, with the UTC
    instants each begins and ends, clipped to the period."""
    months: list[Month] = []
    local = start.astimezone(tz)
    year, month = local.year, local.month
    while True:
        lo = datetime(year, month, 1, tzinfo=tz).astimezone(UTC)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        hi = datetime(year, month, 1, tzinfo=tz).astimezone(UTC)
        if lo >= end:
            return months
        months.append(((lo.astimezone(tz).year, lo.astimezone(tz).month), max(lo, start), min(hi, end)))


async def fiscal_years_with_cases(session: AsyncSession, *, org_id: int, tz: tzinfo) -> list[int]:
    """The Buddhist-era fiscal years the organisation has cases in (read from the period index)."""
    received = sa_select(col(Case.created_at)).where(col(Case.org_id) == org_id)
    return sorted(
        {fiscal_year_of(at.astimezone(tz).date()) for at in (await session.execute(received)).scalars()}
    )


StatValue = int | float | str


def stat_text(value: StatValue) -> str:
    """A value as the text summary shows it: a median with two decimals."""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def summary_table(s: Summary, org: OrgConfig, lang: str) -> list[tuple[str, str, StatValue]]:
    """(section, item, value) rows: the same content for text, CSV and XLSX; counts and medians are
    numbers (a median there is none of is the dash)."""
    out: list[tuple[str, str, StatValue]] = [(t(lang, "stats.total"), "", s.total)]
    for rt, n in sorted(s.by_type.items()):
        out.append((t(lang, "stats.by_type"), t(lang, "type." + rt), n))
    for (rt, code), n in sorted(s.by_category.items()):
        out.append(
            (
                t(lang, "stats.by_category"),
                f"{t(lang, 'type.' + rt)}: {category_label(org, rt, code, lang)}",
                n,
            )
        )
    for code, n in sorted(s.by_division.items()):
        name = t(lang, "card.coordinators") if code == "coordinators" else org.division(code).name(lang)
        out.append((t(lang, "stats.by_division"), name, n))
    months = TH_MONTHS if lang == "th" else EN_MONTHS
    for (year, month), n in sorted(s.by_month.items()):
        shown_year = year + BE_OFFSET if lang == "th" else year
        out.append((t(lang, "stats.by_month"), f"{months[month - 1]} {shown_year}", n))
    for status, n in sorted(s.by_outcome.items()):
        out.append((t(lang, "stats.by_outcome"), t(lang, "status." + status), n))
    dash = t(lang, "summary.none")
    ack, close = s.median_days_to_acknowledge, s.median_days_to_close
    out.append((t(lang, "stats.median_ack"), "", round(ack, 2) if ack is not None else dash))
    out.append((t(lang, "stats.median_close"), "", round(close, 2) if close is not None else dash))
    return out


def export_header(lang: str) -> list[str]:
    return [t(lang, f"export.{c}") for c in EXPORT_COLUMNS]


EXPORT_COLUMNS = (
    "reference", "received", "type", "category", "personnel", "divisions", "status", "anonymous",
    "acknowledged", "closed", "days_to_acknowledge", "days_to_close", "rating",
)  # fmt: skip


def export_row(r: CaseRow, org: OrgConfig, lang: str) -> list[str | float | int | date | None]:
    """A case as a row of real values: dates as dates (the local day), numbers as numbers, labels
    in `lang`; a spreadsheet sorts, sums and filters them (bot/exports.py writes each as its type)."""
    tz = org.tz()

    def when(d: datetime | None) -> date | None:
        return d.astimezone(tz).date() if d else None

    return [
        r.reference, when(r.received), t(lang, "type." + r.report_type),
        category_label(org, r.report_type, r.category, lang), t(lang, "answer." + r.concerns_personnel),
        ", ".join(org.division(c).name(lang) for c in r.divisions), t(lang, "status." + r.status),
        t(lang, "answer.yes" if r.anonymous else "answer.no"), when(r.acknowledged), when(r.closed),
        r.days_to_acknowledge, r.days_to_close, r.rating,
    ]  # fmt: skip
