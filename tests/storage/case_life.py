"""A case's first steps, as the privacy and key-rotation tests both start them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.cases import reporter_cases as reporter
from handlers.cases import staff_cases as staff
from handlers.cases.submit import ReporterInfo, submit_report
from handlers.core.work import ReporterAccount, StaffAccount, Work
from kernel.draft import Draft
from kernel.org_config import OrgConfig
from tests.support.clock import Clock
from tests.unit.conftest import Desk

OFFICER = StaffAccount("test", "501")  # personnel: the tip-off's division
CITIZEN = ReporterAccount("test", "777000111")


async def reported_and_answered(
    s: AsyncSession, desk: Desk, org: OrgConfig, draft: Draft, clock: Clock, *, question: str, answer: str
) -> tuple[int, Work]:
    """The draft submitted by CITIZEN, accepted by OFFICER, who asks `question`; the reporter
    answers. The case and the unit of work, to go on in the same transaction."""
    info = ReporterInfo(channel="test", chat_id=CITIZEN.user_id, user_id=CITIZEN.user_id, lang="th")
    case_id = (
        await submit_report(s, desk.services, org=org, draft=draft, reporter=info, now=clock())
    ).case_id
    work = Work(s, desk.services, clock())
    await staff.accept_case(work, case_id=case_id, by=OFFICER)
    await staff.ask_reporter(work, case_id=case_id, by=OFFICER, question=question)
    await reporter.answer(work, case_id=case_id, by=CITIZEN, text=answer)
    return case_id, work
