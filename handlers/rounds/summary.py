"""The round summary, as in the seed's overview: per dimension the share of items done, and overall.

Shares are percentages rounded half up to two decimals (25 of 26 → 96.15). The latest report made
before the end of the due date counts; later reports count only for a round not yet due.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from kernel.deadlines import BE_OFFSET
from kernel.i18n import t
from kernel.org_config import OrgConfig
from storage.models import PlanItem, ProgressReport

THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


def share(done: int, total: int) -> Decimal:
    if total == 0:
        return Decimal("0.00")
    return (Decimal(done) * 100 / Decimal(total)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class DimensionLine:
    number: int
    items: int
    done: int

    @property
    def percent(self) -> Decimal:
        return share(self.done, self.items)


@dataclass(frozen=True)
class RoundSummary:
    fiscal_year: int
    round: str
    dimensions: list[DimensionLine]
    # division code → codes and titles of items with no report that counts
    unreported: dict[str, list[PlanItem]]
    # reports made after the due date: kept, but they do not count for the round
    late_reports: int = 0

    @property
    def items(self) -> int:
        return sum(d.items for d in self.dimensions)

    @property
    def done(self) -> int:
        return sum(d.done for d in self.dimensions)

    @property
    def percent(self) -> Decimal:
        return share(self.done, self.items)


def latest_status(reports: list[ProgressReport], cutoff: datetime) -> dict[int, str]:
    """item id → the status of its latest report made by `cutoff` (reports are oldest first)."""
    status: dict[int, str] = {}
    for r in reports:
        if r.reported_at <= cutoff:
            status[r.item_id] = r.status
    return status


def summarise_round(
    org: OrgConfig,
    *,
    fiscal_year: int,
    round_name: str,
    items: list[PlanItem],
    reports: list[ProgressReport],
    cutoff: datetime,
    division_codes: dict[int, str],
) -> RoundSummary:
    status = latest_status(reports, cutoff)
    counts: dict[int, list[int]] = {d.number: [0, 0] for d in org.plan.dimensions}
    unreported: dict[str, list[PlanItem]] = defaultdict(list)
    for item in items:
        counts.setdefault(item.dimension, [0, 0])
        counts[item.dimension][0] += 1
        if status.get(item.id or 0) == "done":
            counts[item.dimension][1] += 1
        if (item.id or 0) not in status:
            unreported[division_codes[item.division_id]].append(item)
    lines = [DimensionLine(n, c[0], c[1]) for n, c in sorted(counts.items())]
    late = sum(1 for r in reports if r.reported_at > cutoff)
    return RoundSummary(fiscal_year, round_name, lines, dict(unreported), late)


def summary_rows(summary: RoundSummary, org: OrgConfig, lang: str) -> list[list[str | int | float]]:
    """(dimension, name, items, done, percent) and the overall row, as numbers: for CSV and XLSX."""
    rows: list[list[str | int | float]] = [
        [d.number, org.plan.dimension(d.number).name(lang), d.items, d.done, float(d.percent)]
        for d in summary.dimensions
    ]
    rows.append(["", t(lang, "plan.overall"), summary.items, summary.done, float(summary.percent)])
    return rows


def summary_text(summary: RoundSummary, org: OrgConfig, lang: str, *, thai_digits: bool = False) -> str:
    round_label = t(lang, f"plan.round_{summary.round}")
    lines = [t(lang, "plan.summary_title", year=summary.fiscal_year, round=round_label, org=org.name(lang))]
    for d in summary.dimensions:
        lines.append(
            t(
                lang,
                "plan.summary_line",
                number=d.number,
                name=org.plan.dimension(d.number).name(lang),
                done=d.done,
                items=d.items,
                percent=f"{d.percent:.2f}",
            )
        )
    lines.append(
        t(
            lang,
            "plan.summary_overall",
            done=summary.done,
            items=summary.items,
            percent=f"{summary.percent:.2f}",
        )
    )
    if summary.late_reports:
        lines.append(t(lang, "plan.late_reports", count=summary.late_reports))
    if summary.unreported:
        lines.append(t(lang, "plan.unreported_title"))
        for code, items in sorted(summary.unreported.items()):
            lines.append(f"• {org.division(code).name(lang)}: " + ", ".join(i.code for i in items))
    text = "\n".join(lines)
    return text.translate(THAI_DIGITS) if thai_digits else text


def be_year(moment: datetime) -> int:
    return moment.year + BE_OFFSET
