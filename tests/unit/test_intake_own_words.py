"""A report begun in the citizen's own words (issue 15): transcripts against the real engine,
database and outbox, in Thai and English."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from storage.models import Attachment, Case, Division
from tests.support.chat import Chat
from tests.support.clock import Clock
from tests.support.inputs import Document, Location, Photo, Press, Sticker, Video, Voice
from tests.unit.conftest import STAFF_CHATS, Desk

TIP_TH = "ผู้รับเหมาจ่ายเงินใต้โต๊ะให้เจ้าหน้าที่กองช่างเพื่อให้ตรวจรับงานถนนที่ยังสร้างไม่เสร็จ"
LIGHTS_TH = "ไฟฟ้าส่องสว่างหน้าหมู่บ้านดับมาสองสัปดาห์แล้ว มืดมาก"
LIGHTS_EN = "The street lights on our lane have been broken for two weeks and it is dangerous at night."
REFERENCE = re.compile(r"(?:เลขที่เรื่อง|Reference): (CM-2569-\d{6})")


async def count_actions(chat: Chat, dialogue: list[tuple[Any, str]]) -> int:
    await chat.play(dialogue)
    return len(dialogue)


async def only_case(desk: Desk) -> tuple[Case, dict[str, Any]]:
    async with desk.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
    return case, desk.services.vault.decrypt(case.details_enc)


async def test_an_anonymous_tip_off_with_a_photo_and_a_location_takes_six_actions(desk: Desk) -> None:
    chat = desk.chat()
    actions = await count_actions(
        chat,
        [
            ("/start", "เล่าเรื่องที่เกิดขึ้นด้วยคำพูดของท่านเอง"),
            (TIP_TH, "เรื่องนี้น่าจะเป็น: แจ้งเบาะแสการทุจริต · การจัดซื้อจัดจ้างไม่โปร่งใส · เกี่ยวกับบุคลากรของกองช่าง"),
            (Press("ใช่ ถูกต้อง"), "มีใครเกี่ยวข้อง และเกิดขึ้นเมื่อใด"),
            (Photo("receipt"), "ได้รับไฟล์แล้ว (1/5)"),  # who and when skipped by answering the next question
            (Location(18.7883, 98.9853), "สรุปเรื่องที่จะแจ้ง"),
            (Press("ส่งโดยไม่เปิดเผยชื่อ"), "รับเรื่องของท่านเรียบร้อยแล้ว"),
        ],
    )
    assert actions <= 6
    case, details = await only_case(desk)
    assert (case.report_type, case.category, case.concerns_personnel) == ("corruption", "procurement", "yes")
    assert case.anonymous and details["description"] == TIP_TH and details["location"] == [18.7883, 98.9853]
    assert desk.services.vault.decrypt(case.reporter_enc) == {"chat_id": chat.chat_id}
    async with desk.db.session() as s:
        assert (await s.execute(select(Attachment.file_id))).scalars().all() == ["receipt"]
        named = await s.get(Division, case.named_division_id)
        assert named is not None and named.code == "engineering"  # the division named drives routing
    # each action got one message: no "Noted" before the next question
    assert len(desk.sender.to(chat.chat_id)) == actions


async def test_a_grievance_in_english_confirmed_then_place_and_evidence_together(desk: Desk) -> None:
    chat = desk.chat("2002")
    await chat.play(
        [
            ("/lang", "Choose a language"),
            (Press("English"), "in your own words"),
            (LIGHTS_EN, "sounds like: Grievance · Roads, bridges and infrastructure · not about our staff"),
            (Press("Yes, that's right"), "Where did it happen?"),
            (Document("site-plan", "site.pdf"), "File received (1/5)"),
            (Photo("lamp"), "File received (2/5)"),
            ("Soi 5, Huay Kaew Road", "Summary of your report"),
            (Photo("lamp-2"), "File received (3/5)"),  # evidence is still taken at the summary
        ]
    )
    answer = await chat.say(Press("Send anonymously"))
    assert "Reference: CM-2569-000001" in answer
    case, details = await only_case(desk)
    assert (case.report_type, case.category, case.lang) == ("grievance", "roads", "en")
    assert details["where"] == "Soi 5, Huay Kaew Road" and details["people"] is None
    office = desk.sender.to(STAFF_CHATS["office"])
    assert office and LIGHTS_EN in office[0].text
    assert [r.media.kind for r in office[1:] if r.media] == ["document", "photo", "photo"]


async def test_a_wrong_suggestion_is_changed_in_one_tap_and_shown_again(desk: Desk) -> None:
    chat = desk.chat()
    await chat.play(
        [
            ("/start", "เล่าเรื่อง"),
            (LIGHTS_TH, "ร้องเรียน/ร้องทุกข์ · อื่น ๆ · ไม่เกี่ยวกับบุคลากร"),
            (Press("แก้ไข"), "กรุณาเลือกสิ่งที่ถูกต้อง"),
        ]
    )
    assert "✓ อื่น ๆ" in chat.last_buttons  # the current choice is marked
    await chat.play(
        [
            (Press("ถนน สะพาน และโครงสร้างพื้นฐาน"), "ร้องเรียน/ร้องทุกข์ · ถนน สะพาน และโครงสร้างพื้นฐาน"),
            (Press("แก้ไข"), "กรุณาเลือกสิ่งที่ถูกต้อง"),
            (Press("แจ้งเบาะแสการทุจริต"), "แจ้งเบาะแสการทุจริต ·"),  # another kind: its category suggested
            (Press("แก้ไข"), "กรุณาเลือกสิ่งที่ถูกต้อง"),
            (Press("ร้องเรียน"), "ร้องเรียน/ร้องทุกข์ ·"),
            (Press("แก้ไข"), "กรุณาเลือกสิ่งที่ถูกต้อง"),
            (Press("ถนน สะพาน"), "ถนน สะพาน"),
            (Press("แก้ไข"), "กรุณาเลือกสิ่งที่ถูกต้อง"),
            (Press("👤 เกี่ยวกับบุคลากร"), "· เกี่ยวกับบุคลากรของหน่วยงาน"),
            (Press("แก้ไข"), "กรุณาเลือกสิ่งที่ถูกต้อง"),
            (Press("ระบุส่วนราชการ"), "ส่วนราชการใด"),
            (Press("กองช่าง"), "เกี่ยวกับบุคลากรของกองช่าง"),
            (Press("ใช่ ถูกต้อง"), "เกิดขึ้นที่ใด"),
            (Press("ข้าม"), "สรุปเรื่องที่จะแจ้ง"),
            (Press("ส่งโดยไม่เปิดเผยชื่อ"), "CM-2569-000001"),
        ]
    )
    case, _ = await only_case(desk)
    assert (case.report_type, case.category, case.concerns_personnel) == ("grievance", "roads", "yes")


async def test_a_photo_first_is_kept_and_its_caption_is_the_description(desk: Desk) -> None:
    first, second = desk.chat("3003"), desk.chat("3004")
    await first.play(
        [
            ("/start", "เล่าเรื่อง"),
            (Photo("pothole"), "ได้รับไฟล์แล้ว (1/5)\n\nกรุณาเล่ารายละเอียดของเรื่อง"),
            ("ถนนหน้าโรงเรียนเป็นหลุมใหญ่ รถจักรยานยนต์ล้มทุกวัน", "ถนน สะพาน และโครงสร้างพื้นฐาน"),
            (Press("ใช่ ถูกต้อง"), "เกิดขึ้นที่ใด"),
            (Location(18.79, 98.98), "ได้รับตำแหน่งที่ตั้งแล้ว"),
            (Press("ส่งโดยไม่เปิดเผยชื่อ"), "CM-2569-000001"),
        ]
    )
    caption = "ถนนหน้าโรงเรียนเป็นหลุมใหญ่ รถจักรยานยนต์ล้มทุกวัน"
    # with no /start at all: the photo and its caption are the report's first message
    actions = await count_actions(
        second,
        [
            (Photo("pothole-2", caption=caption), "ได้รับไฟล์แล้ว (1/5)\n\nเรื่องนี้น่าจะเป็น"),
            (Press("ใช่ ถูกต้อง"), "เกิดขึ้นที่ใด"),
            (Location(18.79, 98.98), "สรุปเรื่องที่จะแจ้ง"),
            (Press("ส่งโดยไม่เปิดเผยชื่อ"), "CM-2569-000002"),
        ],
    )
    assert actions == 4
    async with desk.db.session() as s:
        files = (await s.execute(select(Attachment.file_id).order_by(Attachment.id))).scalars().all()
    assert files == ["pothole", "pothole-2"]


async def test_an_information_request_asks_what_and_in_what_form(desk: Desk) -> None:
    chat = desk.chat()
    await chat.play(
        [
            ("/start", "เล่าเรื่อง"),
            ("ขอสำเนาสัญญาจ้างก่อสร้างถนนสายบ้านป่าแดด ปี 2568", "ขอข้อมูลข่าวสาร"),
        ]
    )
    assert "บุคลากร" not in chat.sender.to(chat.chat_id)[-1].text  # a request is not about staff
    await chat.play(
        [
            (Press("ใช่ ถูกต้อง"), "ในรูปแบบใด"),
            ("สำเนาสัญญาฉบับเต็ม ส่งทางอีเมล", "ข้อมูลที่ต้องการ: สำเนาสัญญาฉบับเต็ม ส่งทางอีเมล"),
            (Press("แก้ไข"), "ต้องการแก้ไขส่วนใด"),
            (Press("ข้อมูลที่ต้องการ"), "ในรูปแบบใด"),
            ("สำเนาสัญญาและใบแจ้งปริมาณงาน ขอรับที่สำนักงาน", "สรุปเรื่องที่จะแจ้ง"),
            (Press("ส่งโดยไม่เปิดเผยชื่อ"), "CM-2569-000001"),
        ]
    )
    case, details = await only_case(desk)
    assert case.report_type == "information" and case.concerns_personnel == "no"
    assert details["wanted"] == "สำเนาสัญญาและใบแจ้งปริมาณงาน ขอรับที่สำนักงาน"
    cards = [r.text for chat_id, r in desk.sender.sent if chat_id in STAFF_CHATS.values()]
    assert any("ข้อมูลที่ต้องการ: สำเนาสัญญาและใบแจ้งปริมาณงาน" in text for text in cards)


async def test_sending_with_a_name_asks_name_and_contact_then_the_summary_again(desk: Desk) -> None:
    chat = desk.chat()
    await chat.play(
        [
            ("/start", "เล่าเรื่อง"),
            ("ถนนหน้าโรงเรียนเป็นหลุมใหญ่ รถจักรยานยนต์ล้มทุกวัน", "ถูกต้องหรือไม่"),
            (Press("ใช่ ถูกต้อง"), "เกิดขึ้นที่ใด"),
            (Press("ข้าม"), "สรุปเรื่องที่จะแจ้ง"),
            (Press("ส่งโดยเปิดเผยชื่อ"), "ชื่อ-นามสกุล"),
            ("สมชาย ใจดี", "ช่องทางติดต่อกลับ"),
            ("0812345678", "ผู้แจ้ง: สมชาย ใจดี"),
        ]
    )
    assert set(chat.last_buttons) >= {"✅ ส่งเรื่อง (เปิดเผยชื่อ)", "🔒 ส่งโดยไม่เปิดเผยชื่อแทน"}
    await chat.play([(Press("ส่งเรื่อง (เปิดเผยชื่อ)"), "CM-2569-000001")])
    case, _ = await only_case(desk)
    assert not case.anonymous
    assert desk.services.vault.decrypt(case.reporter_enc)["name"] == "สมชาย ใจดี"


async def test_bad_input_in_the_new_flow_gets_a_polite_reply_and_nothing_is_lost(desk: Desk) -> None:
    chat = desk.chat()
    await chat.play(
        [
            ("สวัสดี", "เล่าเรื่องที่เกิดขึ้นด้วยคำพูดของท่านเอง"),  # a greeting: the welcome
            ("สั้นไป", "อย่างน้อย 15 ตัวอักษร"),
            (Sticker(), "ไม่รองรับข้อความประเภทนี้"),
            (LIGHTS_TH, "ถูกต้องหรือไม่"),
            (Sticker(), "ไม่รองรับข้อความประเภทนี้"),
            (Location(18.79, 98.98), "กรุณาเลือกจากปุ่ม"),
            (Photo("early"), "ได้รับไฟล์แล้ว (1/5)\n\nเรื่องนี้น่าจะเป็น"),  # kept at the suggestion
            ("ตรงถนนเลียบคลองชลประทาน", "เพิ่มในรายละเอียดแล้ว"),  # more words join the description
            ("ก" * 3001, "ยาวเกินไป"),
            (Press("ใช่ ถูกต้อง"), "เกิดขึ้นที่ใด"),
            (Location(123.0, 98.0), "ตำแหน่งที่ตั้งไม่ถูกต้อง"),
            (Document("tool", "run.exe", mime="application/x-msdownload"), "รับไฟล์ประเภทนี้ไม่ได้"),
            (Photo("huge", size=21 * 1024 * 1024), "ใหญ่เกิน 20 MB"),
            (Press("เสร็จแล้ว"), "ไฟล์แนบ: 1"),
            ("/start", "ท่านมีรายการที่ยังกรอกไม่เสร็จ"),
            (Press("ทำต่อ"), "สรุปเรื่องที่จะแจ้ง"),
            ("พิมพ์อะไรสักอย่าง", "กรุณาเลือกจากปุ่ม"),
            (Press("ส่งโดยไม่เปิดเผยชื่อ"), "CM-2569-000001"),
        ]
    )
    _, details = await only_case(desk)
    assert details["description"] == f"{LIGHTS_TH}\nตรงถนนเลียบคลองชลประทาน"


async def test_a_long_paste_as_the_first_message_is_kept_and_joined(desk: Desk, clock: Clock) -> None:
    chat = desk.chat()
    first, rest = "ถนนพัง" * 700, "ซ่อมด้วยครับ" * 20  # 4,200 characters, then the rest of the paste
    await chat.play([("/start", "เล่าเรื่อง"), (first, "ยาวเกินไป")])
    clock.advance(seconds=1)
    answer = await chat.say(rest)
    assert "ยาวเกินไป (4441 ตัวอักษร)" in answer
    await chat.play([(Press("3000 ตัวอักษรแรก"), "เรื่องนี้น่าจะเป็น")])
    await chat.play([(Press("ใช่ ถูกต้อง"), "เกิดขึ้นที่ใด"), (Press("ข้าม"), "สรุป")])
    await chat.play([(Press("ส่งโดยไม่เปิดเผยชื่อ"), "CM-2569-000001")])
    _, details = await only_case(desk)
    assert details["description"] == (first + "\n" + rest)[:3000]


async def test_the_menu_buttons_still_lead_the_old_way(desk: Desk) -> None:
    chat = desk.chat()
    await chat.play(
        [
            ("/start", "กรุณาเลือกเรื่องที่ต้องการแจ้ง"),
            (Press("แจ้งเบาะแสการทุจริต"), "เกี่ยวข้องกับบุคลากร"),
            (Press("ใช่"), "ส่วนราชการใด"),
            (Press("ข้าม / ไม่แน่ใจ"), "ประเภทของเรื่อง"),
        ]
    )
    assert "ส่งเรื่อง" not in " ".join(chat.last_buttons)


async def test_several_organisations_keep_the_first_words_until_one_is_chosen(
    sqlite_database, vault, clock, sender, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from tests.unit.conftest import make_desk, two_organisations

    desk = await make_desk(sqlite_database, two_organisations(tmp_path / "orgs"), vault, clock, sender)
    chat = desk.chat("6006")
    await chat.play(
        [
            (LIGHTS_TH, "เก็บข้อความของท่านไว้แล้ว"),
            (Photo("dark"), "เลือกหน่วยงาน"),
            (Press("ลำพูน"), "เรื่องนี้น่าจะเป็น: ร้องเรียน/ร้องทุกข์"),
            (Press("ใช่ ถูกต้อง"), "ตอนนี้มี 1 ไฟล์"),
            (Press("เสร็จแล้ว"), "สรุปเรื่องที่จะแจ้ง"),
            (Press("ส่งโดยไม่เปิดเผยชื่อ"), "LPN-2569-000001"),
        ]
    )


async def test_voice_notes_and_videos_sent_early_in_the_menu_path_are_kept(desk: Desk) -> None:
    chat = desk.chat()
    await chat.play(
        [
            ("/start", "เลือกเรื่อง"),
            (Press("ร้องเรียน"), "บุคลากร"),
            (Voice("early-voice"), "ได้รับไฟล์แล้ว (1/5)\n\nเรื่องนี้เกี่ยวข้องกับบุคลากร"),
            (Press("ไม่ใช่"), "ส่วนราชการใด"),
            (Video("early-video", caption="ถนนตรงนี้"), "ได้รับไฟล์แล้ว (2/5)\n\nเรื่องนี้เกี่ยวกับส่วนราชการใด"),
            (Press("ข้าม / ไม่แน่ใจ"), "ประเภท"),
            (Press("ถนน"), "รายละเอียด"),
            ("ถนนเป็นหลุมลึกหลายจุดในหมู่บ้าน", "เมื่อใด"),
            (Press("ข้าม"), "ที่ใด"),
            (Press("ข้าม"), "ผู้เกี่ยวข้อง"),
            (Press("ข้าม"), "ตอนนี้มี 2 ไฟล์"),
        ]
    )
