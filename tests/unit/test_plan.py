"""Fiscal arithmetic, reminder phases, plan reminders with a controlled clock, /progress and /summary."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from handlers.rounds.reminders import plan_slot, send_plan_reminders
from handlers.rounds.summary import share
from kernel.fiscal import fiscal_year_of, local_day_bounds, round_due, round_period
from kernel.org_files import load_organisations
from storage.models import ProgressReport
from storage.plan import upsert_item
from tests.support.inputs import Document, Press
from tests.unit.conftest import STAFF_CHATS, Desk

CM = load_organisations("").single
BKK = ZoneInfo("Asia/Bangkok")
FINANCE = "-1004"


def test_fiscal_year_boundaries_and_leap_years() -> None:
    assert fiscal_year_of(date(2026, 9, 30)) == 2569 and fiscal_year_of(date(2026, 10, 1)) == 2570
    assert fiscal_year_of(date(2026, 12, 31)) == 2570 and fiscal_year_of(date(2027, 1, 1)) == 2570
    first, last = round_period(2571, "6m")  # Oct 2027 to Mar 2028: February 2028 has 29 days
    assert (first, last) == (date(2027, 10, 1), date(2028, 3, 31))
    assert (last - first).days + 1 == 183
    assert (round_period(2570, "6m")[1] - round_period(2570, "6m")[0]).days + 1 == 182
    assert round_due(2571, "6m", due_6m="04-10", due_12m="10-10") == date(2028, 4, 10)
    assert round_due(2569, "12m", due_6m="04-10", due_12m="10-10") == date(2026, 10, 10)
    start, end = local_day_bounds(date(2026, 3, 31), date(2026, 3, 31), BKK)
    assert start.astimezone(UTC) == datetime(2026, 3, 30, 17, 0, tzinfo=UTC)
    assert (end - start).total_seconds() == 86400


def test_shares_round_half_up_to_two_decimals() -> None:
    assert [share(25, 26), share(18, 19), share(28, 28), share(103, 105)] == [
        Decimal("96.15"),
        Decimal("94.74"),
        Decimal("100.00"),
        Decimal("98.10"),
    ]
    assert share(1, 8) == Decimal("12.50") and share(0, 0) == Decimal("0.00")


def test_reminder_phases_catch_up_but_never_repeat() -> None:
    assert CM is not None
    due = date(2027, 4, 10)
    phases = [
        plan_slot(CM, due, date(2027, 4, 10 - d) if d < 10 else date(2027, 3, 41 - d)) for d in (20, 15)
    ]
    assert phases == [None, None]
    assert plan_slot(CM, due, date(2027, 3, 27)) == "d14"
    assert plan_slot(CM, due, date(2027, 3, 31)) == "d14"  # 10 days left: still the 14-day reminder
    assert plan_slot(CM, due, date(2027, 4, 3)) == "d7"
    assert plan_slot(CM, due, date(2027, 4, 9)) == "d1"
    assert plan_slot(CM, due, date(2027, 4, 10)) == "d0"
    assert plan_slot(CM, due, date(2027, 4, 12)) == "late2"


async def _plan(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    await desk.bind("division:finance", FINANCE)
    d = desk.services.directory
    async with desk.db.session() as s:
        for code, division, dim in (
            ("2.3.01", "finance", 2),
            ("2.3.02", "finance", 2),
            ("1.1.01", "office", 1),
        ):
            await upsert_item(
                s,
                org_id=d.org_ids["CM"],
                code=code,
                now=clock(),
                values={
                    "title_th": f"รายการ {code}",
                    "title_en": f"Item {code}",
                    "dimension": dim,
                    "division_id": d.division_ids[("CM", division)],
                    "fiscal_years": "2569,2570",
                    "budget": None,
                },
            )
        await s.commit()


async def _run(desk: Desk) -> int:
    sent = await send_plan_reminders(desk.services, desk.services.clock())
    await desk.dispatcher.drain()
    return sent


async def test_plan_reminders_at_offsets_once_each_and_stop_when_reported(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    await _plan(desk, clock)
    clock.now = datetime(2027, 3, 20, 3, 0, tzinfo=UTC)  # 10:00 Bangkok, 21 days before 10 April
    assert await _run(desk) == 0
    clock.now = datetime(2027, 3, 27, 1, 0, tzinfo=UTC)  # 08:00: before the reminder hour
    assert await _run(desk) == 0
    clock.now = datetime(2027, 3, 27, 3, 0, tzinfo=UTC)  # 14 days left, 10:00
    assert await _run(desk) == 3  # finance, office and the coordinators' digest
    finance = desk.sender.to(FINANCE)[-1].text
    assert "อีก 14 วันครบกำหนด" in finance and "2.3.01" in finance and "2.3.02" in finance
    assert "10 เม.ย. 2570" in finance and "1.1.01" not in finance
    digest = desk.sender.to(STAFF_CHATS["coordinators"])[-1].text
    assert "กองคลัง: 2 รายการ" in digest
    assert await _run(desk) == 0  # once, also for a second run the same day ("a restart")
    clock.now = datetime(2027, 3, 31, 3, 0, tzinfo=UTC)  # 10 days left: still the 14-day phase
    assert await _run(desk) == 1  # only the day's digest

    # finance reports both items in chat; its reminders stop, the office's go on
    await desk.add_staff("401", "finance", name="มานี")
    staff = desk.chat(FINANCE, chat_type="group", user_id="401")
    listing = await staff.say("/progress")
    assert "ปีงบประมาณ 2570 รอบ 6 เดือน" in listing and "รายงานแล้ว 0 จาก 2" in listing
    await staff.say(Press("2.3.01"))
    assert "บันทึก 2.3.01: ✅ ดำเนินการแล้ว" in await staff.say(Press("ดำเนินการแล้ว"))
    assert "บันทึกหมายเหตุแล้ว" in await staff.say("เบิกจ่ายครบแล้ว")
    await staff.say("/progress")
    await staff.say(Press("2.3.02"))
    await staff.say(Press("อยู่ระหว่าง"))
    assert "หลักฐาน" in await staff.say(Document("report-doc"))
    assert "เรียบร้อย" in await staff.say(Press("เสร็จแล้ว"))
    async with desk.db.session() as s:
        reports = list((await s.execute(select(ProgressReport).order_by(ProgressReport.id))).scalars())
    assert [(r.status, r.note, r.actor) for r in reports] == [
        ("done", "เบิกจ่ายครบแล้ว", "staff:1"),
        ("in_progress", None, "staff:1"),
    ]
    assert "report-doc" in (reports[1].evidence_json or "")

    clock.now = datetime(2027, 4, 3, 3, 0, tzinfo=UTC)  # 7 days left
    before = len(desk.sender.to(FINANCE))
    assert await _run(desk) == 2  # the office and the digest; finance has reported
    assert len(desk.sender.to(FINANCE)) == before
    clock.now = datetime(2027, 4, 12, 3, 0, tzinfo=UTC)
    await _run(desk)
    assert "เลยกำหนดรายงานผล" in desk.sender.to(STAFF_CHATS["office"])[-1].text


async def test_summary_for_coordinators_with_a_chart(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    import base64

    await _plan(desk, clock)
    clock.now = datetime(2027, 3, 27, 3, 0, tzinfo=UTC)
    await desk.add_staff("401", "finance")
    await desk.add_staff("900", None, role="coordinator")
    staff = desk.chat(FINANCE, chat_type="group", user_id="401")
    await staff.say("/progress")
    await staff.say(Press("2.3.01"))
    await staff.say(Press("ดำเนินการแล้ว"))
    assert "สำหรับผู้ประสานงาน" in await staff.say("/summary")
    coordinator = desk.chat("900")
    replies = await coordinator.send("/summary")
    text = replies[0].text
    assert "มิติที่ 2 การบริหารราชการเพื่อป้องกันการทุจริต: ดำเนินการแล้ว 1 จาก 2 รายการ คิดเป็นร้อยละ 50.00" in text
    assert "รวมทุกมิติ: ดำเนินการแล้ว 1 จาก 3 รายการ คิดเป็นร้อยละ 33.33" in text
    assert "สำนักปลัดองค์การบริหารส่วนจังหวัด: 1.1.01" in text
    chart = replies[1].media
    assert (
        chart and chart.kind == "photo" and base64.b64decode(chart.data_b64 or "")[:8] == b"\x89PNG\r\n\x1a\n"
    )
    english = (await coordinator.send("/summary 2570 6m en thai"))[0].text
    assert "Dimension ๒" in english and "๕๐.๐๐%" in english


async def test_outsiders_cannot_report_progress(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    from kernel.messages import Incoming

    await _plan(desk, clock)
    clock.now = datetime(2027, 3, 27, 3, 0, tzinfo=UTC)
    await desk.add_staff("301", "office")
    assert "ไม่มีสิทธิ์" in await desk.chat("555").say("/progress")
    office = desk.chat(STAFF_CHATS["office"], chat_type="group", user_id="301")
    forged = Incoming(
        channel="test",
        chat_id=STAFF_CHATS["office"],
        user_id="301",
        chat_type="group",
        update_key="forged-p",
        payload="p.s.1.2570.6m.d",
    )  # item 1 belongs to finance
    assert "ไม่มีสิทธิ์" in await office.say(forged)
    async with desk.db.session() as s:
        assert (await s.execute(select(ProgressReport))).first() is None


async def test_two_runs_at_once_send_each_plan_reminder_once(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    await _plan(desk, clock)
    clock.now = datetime(2027, 3, 27, 3, 0, tzinfo=UTC)
    counts = await asyncio.gather(*(send_plan_reminders(desk.services, clock()) for _ in range(3)))
    assert sum(counts) == 3


async def test_an_extended_due_date_is_reminded_afresh(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    from storage.plan import set_due

    await _plan(desk, clock)
    clock.now = datetime(2027, 4, 3, 3, 0, tzinfo=UTC)  # 7 days before 10 April
    assert await _run(desk) == 3
    async with desk.db.session() as s:
        await set_due(s, 1, 2570, "6m", date(2027, 4, 30))
        await s.commit()
    clock.now = datetime(2027, 4, 23, 3, 0, tzinfo=UTC)  # 7 days before the new date
    assert await _run(desk) == 3
    assert "30 เม.ย. 2570" in desk.sender.to(FINANCE)[-1].text


async def test_a_division_without_a_chat_has_its_plan_reminder_sent_to_the_coordinators(
    desk: Desk, clock
) -> None:  # type: ignore[no-untyped-def]
    d = desk.services.directory
    async with desk.db.session() as s:
        await upsert_item(s, org_id=d.org_ids["CM"], code="4.1.01", now=clock(), values={
            "title_th": "ตรวจสอบภายใน", "title_en": "Audit", "dimension": 4,
            "division_id": d.division_ids[("CM", "audit")], "fiscal_years": "2570", "budget": None,
        })  # fmt: skip
        await s.commit()
    clock.now = datetime(2027, 3, 27, 3, 0, tzinfo=UTC)
    await _run(desk)
    assert any("4.1.01" in t for t in (r.text for r in desk.sender.to(STAFF_CHATS["coordinators"])))
