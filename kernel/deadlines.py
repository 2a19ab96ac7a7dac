"""Deadline arithmetic and date display: Thai working days, Buddhist-era years."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

BE_OFFSET = 543
TH_MONTHS = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
    "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)  # fmt: skip
EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def is_working_day(day: date, holidays: Iterable[date]) -> bool:
    return day.weekday() < 5 and day not in set(holidays)


def add_working_days(start: datetime, days: int, *, tz: ZoneInfo, holidays: Iterable[date]) -> datetime:
    """`start` plus `days` working days, at the same local time of day (weekends and holidays skipped)."""
    hol = set(holidays)
    local = start.astimezone(tz)
    added = 0
    while added < days:
        local += timedelta(days=1)
        if is_working_day(local.date(), hol):
            added += 1
    return local.astimezone(start.tzinfo)


def buddhist_year(moment: datetime, tz: ZoneInfo) -> int:
    return moment.astimezone(tz).year + BE_OFFSET


def format_datetime(moment: datetime, *, lang: str, tz: ZoneInfo) -> str:
    """Thai: `26 พ.ย. 2569 14:05` (Buddhist era); English: `26 Nov 2026 14:05`."""
    local = moment.astimezone(tz)
    if lang == "en":
        return f"{local.day} {EN_MONTHS[local.month - 1]} {local.year} {local:%H:%M}"
    return f"{local.day} {TH_MONTHS[local.month - 1]} {local.year + BE_OFFSET} {local:%H:%M} น."


def format_date(moment: datetime, *, lang: str, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    if lang == "en":
        return f"{local.day} {EN_MONTHS[local.month - 1]} {local.year}"
    return f"{local.day} {TH_MONTHS[local.month - 1]} {local.year + BE_OFFSET}"
