"""A division is reminded over Telegram, reports its items with /progress, and the reminders stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.scheduler import run_reminder_job
from storage.plan import upsert_item
from storage.staff import add_staff
from tests.e2e.conftest import COORDINATORS, OFFICE, RunningBot
from tests.support.clock import Clock

CLERK = 770001


async def _seed(bot: RunningBot, clock: Clock) -> None:
    assert bot.app is not None
    d = bot.app.services.directory
    async with bot.app.db.session() as s:
        for code, title in (("2.3.01", "จัดทำแผนการจัดหาพัสดุประจำปี"), ("2.3.02", "เผยแพร่ประกาศจัดซื้อจัดจ้าง")):
            await upsert_item(
                s, org_id=d.org_ids["CM"], code=code, now=clock(),
                values={"title_th": title, "title_en": title, "dimension": 2, "fiscal_years": "2570",
                        "division_id": d.division_ids[("CM", "office")], "budget": None},
            )  # fmt: skip
        await add_staff(
            s, org_id=d.org_ids["CM"], channel="telegram", user_id=str(CLERK), role="staff",
            division_id=d.division_ids[("CM", "office")], display_name="สุดา",
        )  # fmt: skip
        await s.commit()


def _data(bot: RunningBot, label: str) -> tuple[str, int]:
    msg = next(m for m in reversed(bot.api.messages_to(OFFICE)) if any(label in t for t in m.button_texts))
    data = next(b["callback_data"] for b in msg.buttons if label in str(b["text"]))
    return str(data), msg.message_id


async def _press(bot: RunningBot, label: str, expect: str) -> None:
    before = len(bot.api.messages_to(OFFICE))
    data, message_id = _data(bot, label)
    bot.api.press(OFFICE, data, message_id, user_id=CLERK, chat_type="supergroup")
    messages = await bot.api.wait_for_messages(OFFICE, before + 1)
    for _ in range(50):
        if any(expect in (m.text or "") for m in bot.api.messages_to(OFFICE)[before:]):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{expect!r} not in {[m.text for m in messages[before:]]}")


def _count(bot: RunningBot, text: str) -> int:
    return sum(text in (m.text or "") for m in bot.api.messages_to(OFFICE))


async def test_a_division_reports_and_its_reminders_stop(bot: RunningBot) -> None:
    assert bot.app is not None
    clock = Clock(datetime(2027, 3, 27, 3, 0, tzinfo=UTC))  # 14 days before 10 April 2570 (2027)
    bot.app.services.clock = clock
    await _seed(bot, clock)

    assert await run_reminder_job(bot.app.services)
    reminder = (await bot.api.wait_for_messages(OFFICE, 1))[-1].text or ""
    assert "อีก 14 วันครบกำหนดรายงานผลในระบบ E-Plan (10 เม.ย. 2570)" in reminder and "2.3.01" in reminder
    digest = (await bot.api.wait_for_messages(COORDINATORS, 1))[-1].text or ""
    assert "สำนักปลัดองค์การบริหารส่วนจังหวัด: 2 รายการ" in digest

    before = len(bot.api.messages_to(OFFICE))
    bot.api.send_text(OFFICE, "/progress", user_id=CLERK, chat_type="supergroup")
    listing = (await bot.api.wait_for_messages(OFFICE, before + 1))[-1]
    assert "รายงานแล้ว 0 จาก 2" in (listing.text or "")
    for code in ("2.3.01", "2.3.02"):
        await _press(bot, code, code)
        await _press(bot, "ดำเนินการแล้ว", f"บันทึก {code}")
        notes = _count(bot, "บันทึกหมายเหตุแล้ว")
        bot.api.send_text(OFFICE, "ดำเนินการตามแผนแล้ว", user_id=CLERK, chat_type="supergroup")
        for _ in range(100):
            if _count(bot, "บันทึกหมายเหตุแล้ว") > notes:
                break
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)

    clock.now = datetime(2027, 4, 3, 3, 0, tzinfo=UTC)  # the 7-day reminder day
    sent_before = len(bot.api.messages_to(OFFICE))
    assert await run_reminder_job(bot.app.services)
    await asyncio.sleep(0.5)
    assert len(bot.api.messages_to(OFFICE)) == sent_before  # reported: no reminder
