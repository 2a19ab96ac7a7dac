"""Case deadline reminders with a controlled clock: each once, daily when late, a coordinators' digest."""

from __future__ import annotations

import asyncio

from handlers.cases.reminders import send_due_reminders
from handlers.engine import Engine
from tests.support.inputs import Press
from tests.unit.conftest import STAFF_CHATS, Desk
from tests.unit.test_intake import report_until_summary

PERSONNEL = STAFF_CHATS["personnel"]


def _texts(desk: Desk, chat: str) -> list[str]:
    return [r.text for r in desk.sender.to(chat)]


async def _run(desk: Desk) -> int:
    sent = await send_due_reminders(desk.services, desk.services.clock())
    await desk.dispatcher.drain()
    return sent


async def test_ack_reminder_before_then_daily_after_and_once_each(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    # Wednesday 09:00 Bangkok: acknowledgement due at Thursday's close, 16:30
    chat = desk.chat()
    await report_until_summary(chat)
    await chat.say(Press("ส่งเรื่อง"))
    assert await _run(desk) == 0
    clock.advance(hours=23)  # Thursday 08:00: the "before" reminder is due, but the office is shut
    assert await _run(desk) == 0
    clock.advance(hours=1)  # 09:00, the office open: the reminder goes
    assert await _run(desk) == 1
    assert any("⏰ เรื่อง CM-2569-000001: ครบกำหนดตอบรับเรื่อง" in t for t in _texts(desk, PERSONNEL))
    assert await _run(desk) == 0  # once
    desk.services.clock = clock  # a "restart": a fresh job run over the same database
    assert await send_due_reminders(desk.services, clock()) == 0
    clock.advance(hours=8)  # Thursday 17:00: late, and nobody there to read it
    assert await _run(desk) == 0
    clock.advance(hours=16)  # Friday 09:00: late day 0, and the digest of overdue cases
    assert await _run(desk) == 2  # the division's reminder and the coordinators' digest
    assert any("เลยกำหนดตอบรับเรื่อง" in t for t in _texts(desk, PERSONNEL))
    digest = _texts(desk, STAFF_CHATS["coordinators"])[-1]
    assert "สรุปเรื่องที่เลยกำหนด (1 เรื่อง)" in digest and "CM-2569-000001" in digest
    assert await _run(desk) == 0
    clock.advance(days=1)  # Saturday: nothing
    assert await _run(desk) == 0
    clock.advance(days=2)  # Monday: the daily late reminder and the next digest
    assert await _run(desk) == 2
    clock.advance(days=3)
    assert await _run(desk) == 2  # days missed while down are not all sent at once


async def test_acting_on_the_case_stops_its_reminders(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    chat = desk.chat()
    await report_until_summary(chat)
    await chat.say(Press("ส่งเรื่อง"))
    await desk.add_staff("501", "personnel")
    officer = desk.chat(PERSONNEL, chat_type="group", user_id="501")
    officer.look()
    await officer.say(Press("รับเรื่อง"))
    officer.look()
    await officer.say(Press("แจ้งความคืบหน้า"))
    await officer.say("กำลังรวบรวมเอกสาร")
    clock.advance(days=2)
    assert await _run(desk) == 0  # acknowledged, replied, update clock restarted
    clock.advance(days=14)  # Friday 11 December: the update due at the close (10 December a holiday)
    assert await _run(desk) >= 1
    assert any("แจ้งความคืบหน้าแก่ผู้แจ้ง" in t for t in _texts(desk, PERSONNEL))


async def test_two_job_runs_at_once_send_each_reminder_once(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    chat = desk.chat()
    await report_until_summary(chat)
    await chat.say(Press("ส่งเรื่อง"))
    clock.advance(hours=24)  # Thursday 09:00, the office open: the acknowledgement is due today
    counts = await asyncio.gather(*(send_due_reminders(desk.services, clock()) for _ in range(3)))
    assert sum(counts) == 1


async def test_the_scheduler_runs_the_job_with_safe_settings(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.scheduler import REMINDER_JOB, build_scheduler

    chat = desk.chat()
    await report_until_summary(chat)
    await chat.say(Press("ส่งเรื่อง"))
    clock.advance(hours=24)  # Thursday 09:00, the office open: the acknowledgement is due today
    scheduler = build_scheduler(desk.services, every_seconds=1)
    job = scheduler.get_job(REMINDER_JOB)
    assert job.coalesce and job.max_instances == 1 and job.misfire_grace_time == 3600
    scheduler.start()
    try:
        for _ in range(100):
            await desk.dispatcher.drain()
            if any("⏰" in t for t in _texts(desk, PERSONNEL)):
                break
            await asyncio.sleep(0.05)
    finally:
        await scheduler.stop()  # a run still in flight finishes before the fixture closes the database
    assert any("⏰" in t for t in _texts(desk, PERSONNEL))
    assert isinstance(desk.engine, Engine)


async def test_a_case_with_no_responsible_division_reminds_the_coordinators(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    chat = desk.chat()
    for what in ("/start", Press("ร้องเรียน"), Press("ไม่ใช่"), Press("สำนักปลัด"), Press("ถนน")):
        await chat.say(what)
    for what in ("ถนนหน้าสำนักงานชำรุดมานาน", Press("ข้าม"), "ข้าม", Press("ข้าม"), Press("ข้าม")):
        await chat.say(what)
    await chat.say(Press("ไม่เปิดเผยชื่อ"))
    await chat.say(Press("ส่งเรื่อง"))
    clock.advance(hours=24)  # Thursday 09:00, the office open: the acknowledgement is due today
    assert await _run(desk) == 1
    assert "⏰ เรื่อง CM-2569-000001" in _texts(desk, STAFF_CHATS["coordinators"])[-1]


async def test_stopping_the_scheduler_waits_for_a_job_run_in_flight() -> None:
    """The bot closes its database right after the scheduler stops: a run is let finish first."""
    from datetime import UTC, datetime

    from bot.scheduler import JobScheduler, add_periodic

    scheduler = JobScheduler(timezone="UTC")
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[bool] = []

    async def job() -> None:
        started.set()
        await release.wait()
        finished.append(True)

    add_periodic(scheduler, "slow", job, 3600)
    scheduler.start()
    scheduler.get_job("slow").modify(next_run_time=datetime.now(UTC))
    await asyncio.wait_for(started.wait(), timeout=5)
    stopping = asyncio.create_task(scheduler.stop())
    await asyncio.sleep(0.2)
    assert not stopping.done()  # the run is still going
    release.set()
    await asyncio.wait_for(stopping, timeout=5)
    assert finished == [True] and not scheduler.running and not scheduler.in_flight
