"""Thai fiscal years (1 October to 30 September, named by the B.E. year they end in) and rounds."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kernel.deadlines import BE_OFFSET

ROUNDS = ("6m", "12m")


def fiscal_year_of(day: date) -> int:
    """The B.E. fiscal year a day falls in: 1 Oct 2025 to 30 Sep 2026 is fiscal year 2569."""
    return day.year + BE_OFFSET + (1 if day.month >= 10 else 0)


def round_period(fiscal_year_be: int, round_name: str) -> tuple[date, date]:
    """First and last day of a round: the 6-month round ends 31 March, the 12-month 30 September."""
    if round_name not in ROUNDS:
        raise ValueError(f"round must be one of {', '.join(ROUNDS)}")
    start_year = fiscal_year_be - BE_OFFSET - 1
    start = date(start_year, 10, 1)
    end = date(start_year + 1, 3, 31) if round_name == "6m" else date(start_year + 1, 9, 30)
    return start, end


def local_day_bounds(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in the organisation's time zone."""
    return datetime.combine(first, time(), tz), datetime.combine(last + timedelta(days=1), time(), tz)


def round_due(fiscal_year_be: int, round_name: str, *, due_6m: str, due_12m: str) -> date:
    """The organisation's rule: MM-DD in the calendar year the round's period ends."""
    _, end = round_period(fiscal_year_be, round_name)
    month, day = (int(x) for x in (due_6m if round_name == "6m" else due_12m).split("-"))
    return date(end.year, month, day)


def rounds_around(day: date) -> list[tuple[int, str]]:
    """The rounds of the previous, current and next fiscal years, in order of their periods' ends."""
    fy = fiscal_year_of(day)
    return [(y, r) for y in (fy - 1, fy, fy + 1) for r in ROUNDS]
