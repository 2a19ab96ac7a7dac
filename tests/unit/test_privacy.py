"""PDPA controls: what is held, erasure on request and after retention, and the daily report limit."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from handlers.cases.privacy import due_for_purge, erase_personal_data
from handlers.cases.staff_cases import accept_case, close_case
from handlers.core.work import StaffAccount, Work
from handlers.engine import Engine
from storage.audit import verify_chain
from storage.models import Case, CaseEvent
from tests.support.inputs import Press
from tests.unit.conftest import Desk
from tests.unit.test_intake import report_until_summary

OFFICER = StaffAccount("test", "901")


async def _named_case(desk: Desk, chat_id: str = "1001") -> None:
    chat = desk.chat(chat_id)
    await report_until_summary(chat, anonymous=False)
    await chat.say(Press("ส่งเรื่อง"))


async def _close_all(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    await desk.add_staff("901", None, role="coordinator")
    async with desk.db.session() as s:
        work = Work(s, desk.services, clock())
        for case_id in (await s.execute(select(Case.id))).scalars():
            await accept_case(work, case_id=case_id, by=OFFICER)
            await close_case(work, case_id=case_id, by=OFFICER, outcome="resolved", public_note="ดำเนินการแล้ว")
        await s.commit()


async def test_mydata_shows_what_is_held_and_erases_closed_cases_on_request(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    await _named_case(desk)
    chat = desk.chat("1001")
    shown = await chat.say("/mydata")
    assert "CM-2569-000001" in shown and "สมชาย ใจดี" in shown and "+66812345678" in shown
    assert "ลบข้อมูลส่วนบุคคล" not in str(chat.last_buttons)  # nothing closed yet
    await _close_all(desk, clock)
    await chat.say("/mydata")
    assert "ลบข้อมูลส่วนบุคคลออกจากเรื่องที่ปิดแล้ว 1 เรื่อง" in await chat.say(Press("ลบข้อมูลส่วนบุคคล"))
    async with desk.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        assert desk.services.vault.decrypt(case.reporter_enc) == {"erased": True}
        assert desk.services.vault.decrypt(case.details_enc)["people"] is None
        assert case.category == "bribery" and case.status == "resolved"  # the record and its statistics stay
        kinds = list((await s.execute(select(CaseEvent.kind).order_by(CaseEvent.seq))).scalars())
        assert "data_request" in kinds and kinds[-1] == "erased"
        assert (await verify_chain(s, desk.services.vault)).ok
    assert "ไม่มีเรื่องที่แจ้งจากบัญชีนี้" in await chat.say("/mydata")


async def test_retention_purge_erases_only_cases_closed_long_enough(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    await _named_case(desk)
    await _close_all(desk, clock)
    org = desk.services.orgs.single
    async with desk.db.session() as s:

        def at(days: int) -> Work:
            return Work(s, desk.services, clock() + timedelta(days=days))

        assert list(await due_for_purge(at(30), org)) == []
        due = list(await due_for_purge(at(org.privacy.retention_days + 1), org))
        assert [c.reference for c in due] == ["CM-2569-000001"]
        await erase_personal_data(at(0), due[0], reason="retention")
        await s.commit()
        assert list(await due_for_purge(at(4000), org)) == []


async def test_reports_per_day_are_limited_across_restarts(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    chat = desk.chat("1001")
    for _ in range(5):
        await report_until_summary(chat)
        assert "รหัสติดตาม" in await chat.say(Press("ส่งเรื่อง"))
    chat.engine = Engine(desk.services)  # a restart: the count comes from the database
    await report_until_summary(chat)
    refused = await chat.say(Press("ส่งเรื่อง"))
    assert "ไม่เกิน 5 เรื่องต่อวัน" in refused and "ส่งเรื่อง" in str(chat.last_buttons)
    clock.advance(days=1, minutes=1)
    assert "CM-2569-000006" in await chat.say(Press("ส่งเรื่อง"))  # the kept draft goes tomorrow
    await asyncio.sleep(0)
