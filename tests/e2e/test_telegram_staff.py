"""Staff work a case over Telegram: the stand-in Bot API carries every button press and message."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import select

from storage.audit import verify_chain
from storage.models import Case, CaseEvent
from storage.staff import add_staff
from tests.e2e.conftest import LEGAL, PERSONNEL, Citizen, RunningBot, anonymous_tip_off, press
from tests.fakes.fake_bot_api import FakeBotApi

OFFICER, STRANGER, OFFICE_CLERK = 880001, 880002, 880003


async def _register(bot: RunningBot, user_id: int, division: str, name: str) -> None:
    assert bot.app is not None
    d = bot.app.services.directory
    async with bot.app.db.session() as s:
        await add_staff(
            s, org_id=d.org_ids["CM"], channel="telegram", user_id=str(user_id), role="staff",
            division_id=d.division_ids[("CM", division)], display_name=name,
        )  # fmt: skip
        await s.commit()


def _card_data(api: FakeBotApi, chat_id: int, label: str) -> dict[str, object]:
    """The callback data of a button on the latest card in a staff chat (after edits)."""
    card = next(
        m
        for m in reversed(api.messages_to(chat_id))
        if any(d.startswith("s.") and not d.startswith("s.cancel") for d in m.callback_datas)
    )
    markup = card.reply_markup
    for edit in api.edits:
        if edit.chat_id == chat_id and edit.message_id == card.message_id and edit.reply_markup is not None:
            markup = edit.reply_markup
    buttons = [b for row in (markup or {}).get("inline_keyboard", []) for b in row]
    data = next(str(b["callback_data"]) for b in buttons if label in str(b["text"]))
    return {"data": data, "message_id": card.message_id}


async def _status(bot: RunningBot) -> str:
    assert bot.app is not None
    async with bot.app.db.session() as s:
        return (await s.execute(select(Case.status))).scalar_one()


async def _wait_status(bot: RunningBot, status: str) -> None:
    for _ in range(200):
        if await _status(bot) == status:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"case never reached {status}; it is {await _status(bot)}")


async def test_staff_accept_ask_anonymous_answer_resolve(bot: RunningBot) -> None:
    api = bot.api
    citizen = Citizen(api, 5560001)
    await citizen.play(anonymous_tip_off("เจ้าหน้าที่เรียกรับเงินเพื่อเร่งออกใบอนุญาตร้านอาหาร"))
    await api.wait_for_messages(PERSONNEL, 1)
    await _register(bot, OFFICER, "personnel", "สมศรี วินัยดี")
    await _register(bot, OFFICE_CLERK, "office", "ประยุทธ สำนักปลัด")
    staff = {"chat_type": "supergroup"}

    # someone in the group who is not staff presses the card's button: nothing changes
    api.press(PERSONNEL, **_card_data(api, PERSONNEL, "รับเรื่อง"), user_id=STRANGER, **staff)
    refusal = await api.wait_for_messages(PERSONNEL, 2)
    assert "ไม่มีสิทธิ์" in (refusal[-1].text or "")
    assert await _status(bot) == "received"

    api.press(PERSONNEL, **_card_data(api, PERSONNEL, "รับเรื่อง"), user_id=OFFICER, **staff)
    await _wait_status(bot, "accepted")
    await citizen._expect(0, "ได้รับการตอบรับแล้ว")
    await asyncio.sleep(0.3)
    edited = [e for e in api.edits if e.chat_id in (PERSONNEL, LEGAL)]
    assert len(edited) == 2 and all("โดย สมศรี วินัยดี" in (e.text or "") for e in edited)

    # a restart between steps loses nothing
    await bot.stop()
    await bot.start()

    sent_before = len(api.messages_to(PERSONNEL))
    api.press(PERSONNEL, **_card_data(api, PERSONNEL, "ถามผู้แจ้ง"), user_id=OFFICER, **staff)
    prompts = await api.wait_for_messages(PERSONNEL, sent_before + 2)
    assert prompts[-1].reply_markup and prompts[-1].reply_markup.get("force_reply") is True
    api.send_text(PERSONNEL, "ร้านอาหารชื่ออะไรครับ", user_id=OFFICER, chat_type="supergroup",
                  reply_to_message_id=prompts[-1].message_id)  # fmt: skip
    await _wait_status(bot, "awaiting_info")
    question = await citizen._expect(0, "ร้านอาหารชื่ออะไรครับ")
    assert "เจ้าหน้าที่มีคำถาม" in question

    await citizen.play(
        [
            (press("ตอบคำถาม"), "ส่งข้อความ รูปภาพ หรือเอกสาร"),
            ("ร้านข้าวซอยแม่มาลี", "ส่งถึงเจ้าหน้าที่แล้ว"),
            (press("เสร็จแล้ว"), "กรุณาเลือก"),
        ]
    )
    await _wait_status(bot, "investigating")
    relayed = next(m for m in api.messages_to(PERSONNEL) if (m.text or "").startswith("💬"))
    assert "ร้านข้าวซอยแม่มาลี" in (relayed.text or "")
    assert "5560001" not in repr(relayed.params) and "Somchai" not in repr(relayed.params)

    # staff of another division forge a callback for this case: refused
    api.press(PERSONNEL, "s.resolve.1", user_id=OFFICE_CLERK, check_button=False, **staff)  # type: ignore[arg-type]
    await asyncio.sleep(0.3)
    assert await _status(bot) == "investigating"

    api.press(PERSONNEL, **_card_data(api, PERSONNEL, "ดำเนินการแล้วเสร็จ"), user_id=OFFICER, **staff)
    await asyncio.sleep(0.3)
    api.send_text(PERSONNEL, "สอบข้อเท็จจริงแล้ว ลงโทษทางวินัยตามระเบียบ", user_id=OFFICER, chat_type="supergroup")
    await _wait_status(bot, "resolved")
    result = await citizen._expect(0, "ผลการดำเนินการ")
    assert "ลงโทษทางวินัย" in result
    await citizen.do(press("⭐ 5 ดาว"), "ความเห็นเพิ่มเติม")

    assert bot.app is not None
    async with bot.app.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        assert case.rating == 5
        kinds = list((await s.execute(select(CaseEvent.kind).order_by(CaseEvent.seq))).scalars())
        assert kinds == ["received", "accept", "ask", "reply", "resolve", "rating"]
        assert (await verify_chain(s, bot.app.services.vault)).ok
    assert re.search(r"CM-\d{4}-\d{6}", result)
