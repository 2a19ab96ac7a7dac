"""Complaint statistics for the 6- and 12-month summaries a complaint centre publishes.

Counts by type, category, division, month and outcome, and the median days to acknowledge and to
close. Built from case rows only: no personal data enters a statistic or an export.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.i18n import t
from bot.org_config import OrgConfig
from handlers.cards import category_label
from handlers.deadlines import BE_OFFSET, EN_MONTHS, TH_MONTHS, format_date
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
    result = (
        await session.execute(
            select(Case)
            .where(col(Case.org_id) == org_id, col(Case.created_at) >= start, col(Case.created_at) < end)
            .order_by(col(Case.created_at), col(Case.id))
        )
    ).scalars()
    cases = list(result)
    assigned: dict[int, list[str]] = {}
    if cases:
        rows = await session.execute(
            select(CaseDivision.case_id, Division.code)
            .join(Division)
            .where(col(CaseDivision.case_id).in_([c.id for c in cases]), col(CaseDivision.role) == "primary")
        )
        for case_id, code in rows.all():
            assigned.setdefault(case_id, []).append(code)
    return [
        CaseRow(
            c.reference,
            c.created_at,
            c.report_type,
            c.category,
            c.concerns_personnel,
            tuple(sorted(assigned.get(c.id or 0, []))),
            c.status,
            c.anonymous,
            c.acknowledged_at,
            c.closed_at,
            c.rating,
        )
        for c in cases
    ]


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


def summarise(rows: list[CaseRow], org: OrgConfig) -> Summary:
    tz = org.tz()
    s = Summary(total=len(rows))
    for r in rows:
        s.by_type[r.report_type] += 1
        s.by_category[(r.report_type, r.category)] += 1
        for code in r.divisions or ("coordinators",):
            s.by_division[code] += 1
        local = r.received.astimezone(tz)
        s.by_month[(local.year, local.month)] += 1
        s.by_outcome[r.status] += 1
    acks = [d for r in rows if (d := r.days_to_acknowledge) is not None]
    closes = [d for r in rows if (d := r.days_to_close) is not None]
    s.median_days_to_acknowledge = round(median(acks), 2) if acks else None
    s.median_days_to_close = round(median(closes), 2) if closes else None
    return s


def summary_table(s: Summary, org: OrgConfig, lang: str) -> list[tuple[str, str, str]]:
    """(section, item, value) rows: the same content for text, CSV and XLSX."""
    out: list[tuple[str, str, str]] = [(t(lang, "stats.total"), "", str(s.total))]
    for rt, n in sorted(s.by_type.items()):
        out.append((t(lang, "stats.by_type"), t(lang, "type." + rt), str(n)))
    for (rt, code), n in sorted(s.by_category.items()):
        out.append(
            (
                t(lang, "stats.by_category"),
                f"{t(lang, 'type.' + rt)}: {category_label(org, rt, code, lang)}",
                str(n),
            )
        )
    for code, n in sorted(s.by_division.items()):
        name = t(lang, "card.coordinators") if code == "coordinators" else org.division(code).name(lang)
        out.append((t(lang, "stats.by_division"), name, str(n)))
    months = TH_MONTHS if lang == "th" else EN_MONTHS
    for (year, month), n in sorted(s.by_month.items()):
        shown_year = year + BE_OFFSET if lang == "th" else year
        out.append((t(lang, "stats.by_month"), f"{months[month - 1]} {shown_year}", str(n)))
    for status, n in sorted(s.by_outcome.items()):
        out.append((t(lang, "stats.by_outcome"), t(lang, "status." + status), str(n)))
    dash = t(lang, "summary.none")
    ack, close = s.median_days_to_acknowledge, s.median_days_to_close
    out.append((t(lang, "stats.median_ack"), "", f"{ack:.2f}" if ack is not None else dash))
    out.append((t(lang, "stats.median_close"), "", f"{close:.2f}" if close is not None else dash))
    return out


def export_header(lang: str) -> list[str]:
    return [t(lang, f"export.{c}") for c in EXPORT_COLUMNS]


EXPORT_COLUMNS = (
    "reference", "received", "type", "category", "personnel", "divisions", "status", "anonymous",
    "acknowledged", "closed", "days_to_acknowledge", "days_to_close", "rating",
)  # fmt: skip


def export_row(r: CaseRow, org: OrgConfig, lang: str) -> list[str | float | int | None]:
    tz = org.tz()

    def when(d: datetime | None) -> str | None:
        return format_date(d, lang=lang, tz=tz) if d else None

    return [
        r.reference, when(r.received), t(lang, "type." + r.report_type),
        category_label(org, r.report_type, r.category, lang), t(lang, "answer." + r.concerns_personnel),
        ", ".join(org.division(c).name(lang) for c in r.divisions), t(lang, "status." + r.status),
        t(lang, "answer.yes" if r.anonymous else "answer.no"), when(r.acknowledged), when(r.closed),
        r.days_to_acknowledge, r.days_to_close, r.rating,
    ]  # fmt: skip
