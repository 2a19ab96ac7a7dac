"""Security review D3: lengths are counted as Telegram and LINE count them (UTF-16 units, an emoji
is two), and a card or a summary always fits one message: a case of 1,900 emoji used to be refused
on its way to staff, and its edits went into the wrong piece."""

from __future__ import annotations

import pytest

from kernel.messages import CUT_MARK, TEXT_LIMIT, cut_units, fit_text, split_text, text_units
from storage.models import Case
from tests.support.inputs import Press
from tests.unit.conftest import STAFF_CHATS, Desk
from tests.unit.test_intake import tip_off_until_when


def test_lengths_are_counted_in_utf16_units() -> None:
    assert text_units("ก😀") == 3 and cut_units("😀😀😀", 5) == "😀😀"  # never half an emoji
    pieces = split_text("😀" * 3000)
    assert len(pieces) == 2 and all(text_units(p) <= TEXT_LIMIT for p in pieces)
    assert "".join(pieces) == "😀" * 3000


@pytest.mark.parametrize("description", ["😀" * 1880, "😀" * 2900, "ก" * 3000 + "\n" + "ข" * 3000])
def test_a_long_text_is_fitted_to_one_message_keeping_its_short_lines(description: str) -> None:
    text = "\n".join(["หัวเรื่อง", f"รายละเอียด: {description}", "ผู้เกี่ยวข้อง: " + "ค" * 500, "สถานะ: รับเรื่องแล้ว"])
    fitted = fit_text(text)
    assert text_units(fitted) <= TEXT_LIMIT and CUT_MARK in fitted
    assert fitted.startswith("หัวเรื่อง\n") and fitted.endswith("\nสถานะ: รับเรื่องแล้ว")
    assert fit_text("สั้น") == "สั้น"


async def test_a_case_of_emoji_reaches_staff_in_one_card_that_later_actions_edit(desk: Desk) -> None:
    from sqlalchemy import select

    citizen = desk.chat("1001")
    await tip_off_until_when(citizen, "😀" * 2900)  # within the 3,000 characters, 5,800 units
    for step in (Press("ข้าม"), "ข้าม", Press("ข้าม"), Press("ข้าม")):
        await citizen.say(step)
    summary = await citizen.say(Press("ไม่เปิดเผยชื่อ"))
    assert text_units(summary) <= TEXT_LIMIT and CUT_MARK in summary  # the citizen can submit
    assert "รหัสติดตาม" in await citizen.say(Press("ส่งเรื่อง"))
    personnel = STAFF_CHATS["personnel"]
    [card] = [r for r in desk.sender.to(personnel) if r.buttons]
    assert text_units(card.text) <= TEXT_LIMIT and "สถานะ" in card.text
    await desk.add_staff("501", "personnel")
    clerk = desk.chat(personnel, chat_type="group", user_id="501")
    clerk.look()
    await clerk.say(Press("รับเรื่อง"))
    edits = [r for r in desk.sender.to(personnel) if r.edit_message_id]
    assert edits and all(text_units(e.text) <= TEXT_LIMIT and CUT_MARK in e.text for e in edits)
    async with desk.db.session() as s:
        assert (await s.execute(select(Case.status))).scalar_one() == "accepted"
