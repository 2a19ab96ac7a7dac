"""Deadline arithmetic and date display: Thai working days, Buddhist-era years."""

from __future__ import annotations

import re
import unicodedata
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


class DateError(ValueError):
    """A typed date that cannot be read, or could be read two ways; the message says how to write it."""


_TYPED_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})|(\d{1,2})/(\d{1,2})/(\d+)")


def read_date(text: str) -> date:
    """A date as a Thai clerk types it: `2569-12-01` or `1/12/2569` in the Buddhist era (the year
    from 2400), `2026-12-01` or `1/12/2026` in the Gregorian one (to 2300), Thai digits too. A
    two-digit year or one in neither range is refused, with how to write it."""
    typed = "".join(str(unicodedata.digit(ch)) if ch.isdigit() else ch for ch in text.strip())
    found = _TYPED_DATE.fullmatch(typed)
    if found is None:
        raise DateError(f"{text!r} is not a date: write 2569-12-01 (Buddhist era) or 2026-12-01")
    if found[1]:
        year, month, day = int(found[1]), int(found[2]), int(found[3])
    else:
        if len(found[6]) != 4:
            raise DateError(
                f"{text!r}: write the year in full, 2569 (Buddhist era) or 2026: {found[6]} could be either"
            )
        day, month, year = int(found[4]), int(found[5]), int(found[6])
    if 2400 <= year <= 2800:
        year -= BE_OFFSET
    elif not 1900 <= year <= 2300:
        raise DateError(
            f"{text!r}: {year} is neither a Buddhist-era year (like 2569) nor a Gregorian one (like 2026)"
        )
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise DateError(f"{text!r} is not a day of the calendar") from exc


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
