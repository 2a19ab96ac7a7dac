"""Deadline arithmetic and date display: Thai working days, Buddhist-era years."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BE_OFFSET = 543
TH_MONTHS = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
    "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)  # fmt: skip
EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def is_working_day(day: date, holidays: Iterable[date]) -> bool:
    return day.weekday() < 5 and day not in set(holidays)


@dataclass(frozen=True)
class OfficeHours:
    """When the office works: weekdays that are not holidays, from `opens` to `closes` local time.
    Deadlines end at a working day's close, and staff are reminded only while the office is open."""

    opens: time
    closes: time
    tz: ZoneInfo
    holidays: frozenset[date] = frozenset()

    def working(self, day: date) -> bool:
        return is_working_day(day, self.holidays)

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.tz)
        return self.working(local.date()) and self.opens <= local.time() < self.closes

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` itself while the office is open, otherwise the next time it opens."""
        if self.is_open(moment):
            return moment
        local = moment.astimezone(self.tz)
        day = local.date() if local.time() < self.opens else local.date() + timedelta(days=1)
        while not self.working(day):
            day += timedelta(days=1)
        return self._at(day, self.opens)

    def close_of(self, moment: datetime) -> datetime:
        """The close of `moment`'s day if it is a working day, else of the next working day."""
        day = moment.astimezone(self.tz).date()
        while not self.working(day):
            day += timedelta(days=1)
        return self._at(day, self.closes)

    def after_working_days(self, received: datetime, days: int) -> datetime:
        """The close of the `days`-th working day after the office first has the case (its next
        opening from `received`); 0 days: the close of that first day."""
        day = self.next_opening(received).astimezone(self.tz).date()
        added = 0
        while added < days:
            day += timedelta(days=1)
            added += self.working(day)
        return self._at(day, self.closes)

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.tz).astimezone(UTC)


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
