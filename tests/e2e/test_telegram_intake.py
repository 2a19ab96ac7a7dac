"""Whole conversations through python-telegram-bot against the local stand-in Bot API server."""

from __future__ import annotations

import asyncio
import hashlib
import re

from sqlalchemy import select

from handlers.cases.delivery import held_file
from storage.models import Attachment, Case, CaseDivision, Division
from tests.e2e.conftest import COORDINATORS, LEGAL, OFFICE, PERSONNEL, Citizen, RunningBot, press

PHOTO = b"\xff\xd8\xff\xe0" + b"photo of the bribe " * 50
DESCRIPTION = "ผู้รับเหมาทางหลวงชนบทเรียกเงินใต้โต๊ะสามหมื่นบาทจากผู้ค้าวัสดุ"


async def _start_tip(citizen: Citizen) -> None:
    await citizen.play(
        [
            ("/start", "กรุณาเลือกเรื่องที่ต้องการแจ้ง"),
            (press("แจ้งเบาะแสการทุจริต"), "เกี่ยวข้องกับบุคลากร"),
            (press("ใช่"), "ส่วนราชการใด"),
            (press("ข้าม / ไม่แน่ใจ"), "ประเภทของเรื่อง"),
            (press("จัดซื้อจัดจ้าง"), "รายละเอียดของเรื่อง"),
        ]
    )


async def test_anonymous_thai_tip_with_photo_and_location(bot: RunningBot) -> None:
    api = bot.api
    citizen = Citizen(api, 5550001)
    await _start_tip(citizen)
    await citizen.play(
        [
            (DESCRIPTION, "เมื่อใด"),
            ("ต้นเดือนที่แล้ว", "เกิดขึ้นที่ใด"),
        ]
    )
    api.add_file("AgACAgIAAxkBAAIBQ2evidence", PHOTO)  # getFile serves it: the bot keeps a copy
    keyboard = citizen.received[-1].reply_markup or {}
    assert keyboard["keyboard"][0][0]["request_location"] is True  # a real "share location" button
    assert keyboard["one_time_keyboard"] is True  # it hides itself once used
    await citizen.play(
        [
            (("location", (18.7883, 98.9853)), "มีผู้เกี่ยวข้อง"),
        ]
    )
    # one message an action: the acknowledgement comes with the next question
    ack = citizen.received[-1]
    assert (ack.text or "").startswith("ได้รับตำแหน่งที่ตั้งแล้ว ขอบคุณครับ/ค่ะ\n\nมีผู้เกี่ยวข้อง")
    await citizen.play(
        [
            (press("ข้าม"), "หลักฐาน"),
            (("photo", "AgACAgIAAxkBAAIBQ2evidence"), "ได้รับไฟล์แล้ว (1/5)"),
            (press("เสร็จแล้ว"), "ไม่เปิดเผยชื่อ"),
            (press("ไม่เปิดเผยชื่อ"), "สรุปเรื่องที่จะแจ้ง"),
        ]
    )
    answer = await citizen.do(press("ส่งเรื่อง"), "รหัสติดตาม")
    # a share-location keyboard a typed answer would have left up goes with the confirmation
    assert citizen.received[-1].reply_markup == {"remove_keyboard": True}
    reference = re.search(r"CM-\d{4}-\d{6}", answer)
    code = re.search(r"รหัสติดตาม: ([\d ]{19})", answer)
    assert reference and code

    personnel = await api.wait_for_messages(PERSONNEL, 3)
    legal = await api.wait_for_messages(LEGAL, 3)
    assert reference.group(0) in (personnel[0].text or "") and DESCRIPTION in (personnel[0].text or "")
    assert "[ผู้รับผิดชอบหลัก]" in (personnel[0].text or "") and "[เพื่อทราบ]" in (legal[0].text or "")
    assert [m.method for m in personnel] == ["sendMessage", "sendPhoto", "sendLocation"]
    assert personnel[1].params["photo"] == "AgACAgIAAxkBAAIBQ2evidence"
    assert personnel[2].params["latitude"] == 18.7883
    await asyncio.sleep(0.2)
    assert api.messages_to(OFFICE) == []  # never the general grievance chat
    # nothing in any staff-bound message identifies the anonymous reporter
    for msg in api.sent:
        if msg.chat_id != citizen.chat_id:
            blob = repr(msg.params)
            assert "5550001" not in blob and "Somchai" not in blob and "somchai" not in blob

    assert bot.app is not None
    async with bot.app.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        assert case.reference == reference.group(0) and case.anonymous
        routed = sorted((await s.execute(select(Division.code).join(CaseDivision))).scalars())
        assert routed == ["legal", "personnel"]
        attachment = (await s.execute(select(Attachment))).scalar_one()
        assert attachment.file_id == "AgACAgIAAxkBAAIBQ2evidence"
        # downloaded at arrival, for the desk: content-addressed and encrypted at rest
        assert attachment.sha256 == hashlib.sha256(PHOTO).hexdigest()
    kept = bot.settings.data_dir / "files" / "cases" / str(attachment.case_id) / attachment.sha256
    assert b"photo of the bribe" not in kept.read_bytes()
    assert await held_file(bot.app.services, attachment.sha256) == PHOTO and bot.app.files.staged() == []

    # the tracking code works from a different account
    other = Citizen(api, 5550999)
    status = await other.do(f"/status {reference.group(0)} {code.group(1)}", reference.group(0))
    assert "รับเรื่องแล้ว" in status


async def test_voice_notes_and_videos_are_evidence_kept_and_sent_to_staff(bot: RunningBot) -> None:
    api = bot.api
    citizen = Citizen(api, 5550011)
    for file_id, data in (("voice-tip", b"OggS voice"), ("clip", b"mp4 video"), ("round", b"mp4 note")):
        api.add_file(file_id, data)
    await citizen.play(
        [
            ("/start", "เล่าเรื่องที่เกิดขึ้นด้วยคำพูดของท่านเอง"),
            (("voice", "voice-tip"), "ได้รับไฟล์แล้ว (1/5)"),  # a voice note first: kept, then the words asked
            ("ถนนหน้าโรงเรียนเป็นหลุมใหญ่ รถจักรยานยนต์ล้มทุกวัน", "เรื่องนี้น่าจะเป็น"),
            (press("ใช่ ถูกต้อง"), "เกิดขึ้นที่ใด"),
            (("video", "clip"), "ได้รับไฟล์แล้ว (2/5)"),
            (("video_note", "round"), "ได้รับไฟล์แล้ว (3/5)"),
            (("location", (18.79, 98.98)), "สรุปเรื่องที่จะแจ้ง"),
        ]
    )
    assert "ไฟล์แนบ: 3" in (citizen.received[-1].text or "")
    await citizen.do(press("ส่งโดยไม่เปิดเผยชื่อ"), "รหัสติดตาม")
    office = await api.wait_for_messages(OFFICE, 5)
    methods = [m.method for m in office]
    assert methods == ["sendMessage", "sendVoice", "sendVideo", "sendVideo", "sendLocation"]
    assert [office[1].params["voice"], office[2].params["video"], office[3].params["video"]] == [
        "voice-tip", "clip", "round"
    ]  # fmt: skip
    assert bot.app is not None
    async with bot.app.db.session() as s:
        kinds = (await s.execute(select(Attachment.kind).order_by(Attachment.id))).scalars().all()
        shas = (await s.execute(select(Attachment.sha256).order_by(Attachment.id))).scalars().all()
    assert kinds == ["voice", "video", "video"]
    assert await held_file(bot.app.services, shas[0] or "") == b"OggS voice"  # downloaded for the desk


async def test_named_english_grievance_with_shared_phone(bot: RunningBot) -> None:
    api = bot.api
    citizen = Citizen(api, 5550002, language_code="en")
    await citizen.play(
        [
            ("/start", "กรุณาเลือก"),
            (press("Language"), "Choose a language"),
            (press("English"), "What would you like to do?"),
            (press("File a grievance"), "concern personnel"),
            (press("No"), "particular division"),
            (press("Skip / not sure"), "category"),
            (press("Water supply"), "describe"),
            ("Tap water in Ban Pong has been brown for a week and smells of mud.", "When did it happen"),
            ("since 18 November", "Where did it happen"),
            ("Ban Pong, Hang Dong", "Who was involved"),
            (press("Skip"), "photos, documents"),
            (("document", "BQACAgIAAxkBAAIBR2report"), "File received (1/5)"),
            (press("Done"), "anonymously"),
            (press("With my name"), "full name"),
            ("Malee Srisuk", "How can we reach you"),
            (("contact", "+66812345678"), "Summary of your report"),
        ]
    )
    answer = await citizen.do(press("Submit"), "Tracking code")
    assert "Reference: CM-" in answer
    office = await api.wait_for_messages(OFFICE, 2)
    assert "Malee Srisuk" in (office[0].text or "") and "+66812345678" in (office[0].text or "")
    assert office[1].method == "sendDocument" and office[1].params["document"] == "BQACAgIAAxkBAAIBR2report"
    await asyncio.sleep(0.2)
    assert api.messages_to(LEGAL) == [] and api.messages_to(PERSONNEL) == []


async def test_a_restart_mid_report_continues_at_the_same_step(bot: RunningBot) -> None:
    api = bot.api
    citizen = Citizen(api, 5550003)
    await _start_tip(citizen)
    await citizen.do(DESCRIPTION, "เมื่อใด")
    await bot.stop()
    await bot.start()
    await citizen.play(
        [
            ("เมื่อวาน", "เกิดขึ้นที่ใด"),
            ("/start", "ยังกรอกไม่เสร็จ"),
            (press("ทำต่อ"), "เกิดขึ้นที่ใด"),
            ("ข้าม", "มีผู้เกี่ยวข้อง"),  # the reply keyboard's button sends its label
            (press("ข้าม"), "หลักฐาน"),
            (press("ข้าม"), "ไม่เปิดเผยชื่อ"),
            (press("ไม่เปิดเผยชื่อ"), DESCRIPTION),
            (press("ส่งเรื่อง"), "CM-2569-000001"),
        ]
    )


async def test_an_update_delivered_twice_is_handled_once(bot: RunningBot) -> None:
    api = bot.api
    citizen = Citizen(api, 5550004)
    await citizen.do("/start", "กรุณาเลือก")
    update_id = api.push_update(
        {
            "message": {
                "message_id": 900,
                "date": 1_790_000_000,
                "chat": {"id": 5550004, "type": "private", "first_name": "Somchai"},
                "from": {"id": 5550004, "is_bot": False, "first_name": "Somchai"},
                "text": "/help",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            }
        }
    )
    await citizen._expect(1, "วิธีใช้")
    count = len(citizen.received)
    api.push_raw({**api.calls_to("getUpdates")[0].params, "update_id": update_id, "message": {
        "message_id": 900, "date": 1_790_000_000, "chat": {"id": 5550004, "type": "private"},
        "from": {"id": 5550004, "is_bot": False, "first_name": "Somchai"}, "text": "/help",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
    }})  # fmt: skip
    await citizen.do("/privacy", "ความเป็นส่วนตัว")  # handled after the redelivery
    texts = [m.text or "" for m in citizen.received[count:]]
    assert not any("วิธีใช้" in t for t in texts)


async def test_bad_input_over_telegram_gets_polite_replies(bot: RunningBot) -> None:
    api = bot.api
    citizen = Citizen(api, 5550005)
    await _start_tip(citizen)
    await citizen.play(
        [
            (("sticker", None), "ไม่รองรับข้อความประเภทนี้"),
            (("voice", None), "ได้รับไฟล์แล้ว (1/5)"),  # a voice note is evidence, kept at any step
            ("ก" * 3500, "ยาวเกินไป"),
            ("/whatever", "ไม่รู้จักคำสั่งนี้"),
        ]
    )
    group_answer_before = len(api.messages_to(-4004))
    api.send_text(-4004, "/start", chat_type="supergroup")
    msgs = await api.wait_for_messages(-4004, group_answer_before + 1)
    assert "แชตส่วนตัว" in (msgs[-1].text or "")


async def test_commands_are_registered_in_thai_and_english(bot: RunningBot) -> None:
    thai = {c["command"]: c["description"] for c in bot.api.get_commands("th")}
    english = {c["command"]: c["description"] for c in bot.api.get_commands("en")}
    default = {c["command"] for c in bot.api.get_commands("")}
    assert (
        set(thai)
        == set(english)
        == default
        == {"start", "status", "cancel", "help", "lang", "privacy", "mydata"}
    )
    assert thai["status"] == "ติดตามเรื่อง" and english["status"] == "Track your reports"
    groups = {c["command"] for c in bot.api.get_commands("th", scope={"type": "all_group_chats"})}
    assert groups == {"cases", "case", "progress", "summary", "bind"}


async def test_a_grievance_naming_the_office_goes_to_coordinators_only(bot: RunningBot) -> None:
    api = bot.api
    citizen = Citizen(api, 5550006)
    await citizen.play(
        [
            ("/start", "กรุณาเลือก"),
            (press("ร้องเรียน"), "บุคลากร"),
            (press("ไม่ใช่"), "ส่วนราชการใด"),
            (press("สำนักปลัด"), "ประเภท"),  # names the office: conflict of interest
            (press("ถนน"), "รายละเอียด"),
            ("ถนนหน้าสำนักงานชำรุดมานานไม่มีใครซ่อม", "เมื่อใด"),
            (press("ข้าม"), "ที่ใด"),
            ("ข้าม", "ผู้เกี่ยวข้อง"),
            (press("ข้าม"), "หลักฐาน"),
            (press("ข้าม"), "ไม่เปิดเผยชื่อ"),
            (press("ไม่เปิดเผยชื่อ"), "สรุป"),
            (press("ส่งเรื่อง"), "CM-2569-000001"),
        ]
    )
    coordinators = await api.wait_for_messages(COORDINATORS, 1)
    assert "อาจมีส่วนได้เสีย" in (coordinators[0].text or "")
    await asyncio.sleep(0.2)
    assert api.messages_to(OFFICE) == []
