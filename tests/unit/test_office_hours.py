"""Issue 17, point 3: deadlines end at the close of a working day, counted from the office's next
opening, and staff are reminded only in office hours. Times are Bangkok's; the office opens
08:30-16:30 on weekdays that are not holidays."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from kernel.deadlines import OfficeHours
from kernel.org_config import Deadlines
from storage.models import Case
from tests.support.clock import Clock
from tests.support.inputs import Press
from tests.unit.conftest import Desk
from tests.unit.test_intake import report_until_summary

BKK = ZoneInfo("Asia/Bangkok")
HOLIDAYS = frozenset({
    date(2026, 12, 7), date(2026, 12, 31), date(2027, 1, 1),
    date(2027, 4, 13), date(2027, 4, 14), date(2027, 4, 15),
})  # fmt: skip
OFFICE = OfficeHours(time(8, 30), time(16, 30), BKK, HOLIDAYS)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BKK)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("received", "due"),
    [
        # the case: Saturday 03:49, Monday a holiday: the office first has it Tuesday
        # 08:30, one working day later is Wednesday, due at its close (not Tuesday 03:49)
        (at(2026, 12, 5, 3, 49), at(2026, 12, 9, 16, 30)),
        # in office hours: the next working day's close
        (at(2026, 12, 2, 10, 0), at(2026, 12, 3, 16, 30)),
        # Friday evening: the office has it Monday, due Tuesday's close
        (at(2026, 11, 27, 18, 0), at(2026, 12, 1, 16, 30)),
        # Friday in office hours, before Monday's holiday: due Tuesday's close
        (at(2026, 12, 4, 10, 0), at(2026, 12, 8, 16, 30)),
        # before opening on a working day: that day is the first, the next one's close
        (at(2026, 12, 3, 7, 0), at(2026, 12, 4, 16, 30)),
        # at the close exactly: the office has closed, the next opening counts
        (at(2026, 12, 3, 16, 30), at(2026, 12, 7 + 1, 16, 30)),
        # New Year: 30 December in the evening; 31 Dec and 1 Jan holidays, 2-3 Jan a weekend
        (at(2026, 12, 30, 20, 0), at(2027, 1, 5, 16, 30)),
        # Songkran: Monday 12 April 2027 in office hours; 13-15 April holidays
        (at(2027, 4, 12, 11, 0), at(2027, 4, 16, 16, 30)),
    ],
)
def test_the_acknowledge_deadline_ends_at_a_working_days_close(received: datetime, due: datetime) -> None:
    assert OFFICE.after_working_days(received, 1) == due


def test_no_deadline_falls_due_while_the_office_is_closed() -> None:
    moment = at(2026, 12, 5, 3, 49)
    for days in range(0, 12):
        due = OFFICE.after_working_days(moment, days)
        assert due.astimezone(BKK).time() == time(16, 30) and OFFICE.working(due.astimezone(BKK).date())
    # a calendar deadline (15 days) on a Saturday moves to the next working day's close
    assert OFFICE.close_of(at(2026, 12, 19, 3, 49)) == at(2026, 12, 21, 16, 30)
    assert OFFICE.close_of(at(2026, 12, 18, 20, 0)) == at(2026, 12, 18, 16, 30)


def test_office_hours_open_and_next_opening() -> None:
    assert OFFICE.is_open(at(2026, 12, 2, 8, 30)) and not OFFICE.is_open(at(2026, 12, 2, 16, 30))
    assert not OFFICE.is_open(at(2026, 12, 7, 10, 0))  # a holiday
    assert OFFICE.next_opening(at(2026, 12, 4, 17, 0)) == at(2026, 12, 8, 8, 30)
    assert OFFICE.next_opening(at(2026, 12, 2, 9, 0)) == at(2026, 12, 2, 9, 0)


def test_office_hours_are_read_from_the_organisation_file() -> None:
    assert Deadlines().office_hours == "08:30-16:30"
    custom = Deadlines(office_hours="09:00-17:00")
    assert (custom.opens, custom.closes) == (time(9, 0), time(17, 0))
    for wrong in ("8-16", "16:30-08:30", "08:30-25:00"):
        with pytest.raises(ValueError, match="office_hours"):
            Deadlines(office_hours=wrong)


async def test_a_report_on_saturday_night_is_due_in_office_hours(desk: Desk, clock: Clock) -> None:
    """The issue's report, Saturday 03:49 before a Monday holiday, as it is stored."""
    clock.now = at(2026, 12, 5, 3, 49)
    chat = desk.chat()
    await report_until_summary(chat)
    await chat.say(Press("ส่งเรื่อง"))
    async with desk.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
    local = {
        name: getattr(case, name).astimezone(BKK) for name in ("ack_due_at", "reply_due_at", "update_due_at")
    }
    assert local["ack_due_at"] == at(2026, 12, 9, 16, 30)
    # 15 days later is Sunday 20 December: Monday's close
    assert local["reply_due_at"] == local["update_due_at"] == at(2026, 12, 21, 16, 30)
