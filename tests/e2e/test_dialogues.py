"""The shared dialogues, each played on the console engine, on Telegram and on LINE with strict answers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from bot.app import build_app, run_server
from bot.settings import Settings
from tests.e2e.conftest import RunningBot
from tests.fakes.fake_line_api import FakeLineApi
from tests.support.chat import Chat
from tests.support.inputs import Location, Photo, Press, Video, Voice
from tests.support.transcript import ANY_BUTTONS, ConsoleDriver, LineDriver, Said, Step, TelegramDriver, play
from tests.unit.conftest import make_desk

START = Said(
    "กรุณาเลือกเรื่องที่ต้องการแจ้ง",
    ["🚨 แจ้งเบาะแสการทุจริต", "📝 ร้องเรียน/ร้องทุกข์", "📄 ขอข้อมูลข่าวสาร", "🔎 ติดตามเรื่อง", "🌐 Language"],
)
PERSONNEL = Said("เกี่ยวข้องกับบุคลากร", ["ใช่", "ไม่ใช่", "ไม่แน่ใจ"])
DIVISIONS = Said(
    "ส่วนราชการใด",
    [
        "สำนักปลัดองค์การบริหารส่วนจังหวัด",
        "ฝ่ายนิติการและการพาณิชย์ สำนักปลัด อบจ.",
        "กองการเจ้าหน้าที่ (ฝ่ายวินัยและส่งเสริมคุณธรรม)",
        "กองพัสดุและทรัพย์สิน",
        "กองคลัง",
        "หน่วยตรวจสอบภายใน",
        "กองช่าง",
        "กองสาธารณสุข",
        "กองการศึกษา ศาสนาและวัฒนธรรม",
        "ข้าม / ไม่แน่ใจ",
    ],
)
DETAILS = Said("กรุณาเล่ารายละเอียดของเรื่อง")
WHEN = Said("เหตุการณ์เกิดขึ้นเมื่อใด", ["ข้าม"])
WHERE = Said("เกิดขึ้นที่ใด", ["📍 ส่งตำแหน่งที่ตั้ง", "ข้าม"])
WHO = Said("มีผู้เกี่ยวข้องเป็นใครบ้าง", ["ข้าม"])
EVIDENCE = Said("ส่งหลักฐานเป็นรูปภาพ เอกสาร คลิปเสียง หรือวิดีโอได้", ["ข้าม"])
ANONYMOUS = Said("ไม่เปิดเผยชื่อ", ["ไม่เปิดเผยชื่อ", "เปิดเผยชื่อ"])
SUMMARY_BUTTONS = ["✅ ส่งเรื่อง", "✏️ แก้ไข", "❌ ยกเลิก"]
RECEIVED = Said("เลขที่เรื่อง: CM-2569-000001")

GRIEVANCE = [
    Step("/start", START),
    Step(Press("ร้องเรียน"), PERSONNEL),
    Step(Press("ไม่แน่ใจ"), DIVISIONS),
    Step(
        Press("ข้าม / ไม่แน่ใจ"),
        Said(
            "กรุณาเลือกประเภทของเรื่อง",
            [
                "ถนน สะพาน และโครงสร้างพื้นฐาน",
                "น้ำประปา ระบายน้ำ และน้ำท่วม",
                "ขยะ มลพิษ และสิ่งแวดล้อม",
                "สาธารณสุขและโรงพยาบาลส่งเสริมสุขภาพ",
                "โรงเรียนและการศึกษา",
                "การให้บริการและพฤติกรรมเจ้าหน้าที่",
                "อื่น ๆ",
            ],
        ),
    ),
    Step(Press("ขยะ"), DETAILS),
    Step("สั้น", Said("ข้อความสั้นเกินไป (4 ตัวอักษร)")),
    Step("รถเก็บขยะไม่มาเก็บที่หมู่บ้านมาสามสัปดาห์แล้ว", WHEN),
    Step(Press("ข้าม"), WHERE),
    Step("หมู่บ้านสันป่าเปา", Said("บันทึกแล้ว ✓\n\nมีผู้เกี่ยวข้องเป็นใครบ้าง", ["ข้าม"])),  # one message an action
    Step(Press("ข้าม"), EVIDENCE),
    Step(Press("ข้าม"), ANONYMOUS),
    Step(Press("ไม่เปิดเผยชื่อ"), Said("ประเภท: ร้องเรียน/ร้องทุกข์", SUMMARY_BUTTONS)),
    Step(Press("ส่งเรื่อง"), RECEIVED),
    Step(
        "/status",
        Said(
            "CM-2569-000001 · ร้องเรียน/ร้องทุกข์",
            ["➕ เพิ่มข้อมูล CM-2569-000001", "↩️ ถอนเรื่อง CM-2569-000001"],
        ),
    ),
]

CORRUPTION_TIP = [
    Step("/start", START),
    Step(Press("แจ้งเบาะแส"), PERSONNEL),
    Step(Press("ใช่"), DIVISIONS),
    Step(
        Press("ข้าม / ไม่แน่ใจ"),
        Said(
            "กรุณาเลือกประเภทของเรื่อง",
            [
                "เรียกรับสินบน / ผลประโยชน์",
                "การจัดซื้อจัดจ้างไม่โปร่งใส",
                "ใช้อำนาจหน้าที่โดยมิชอบ",
                "ใช้ทรัพย์สินหรืองบประมาณของราชการโดยมิชอบ",
                "ผลประโยชน์ทับซ้อน",
                "อื่น ๆ",
            ],
        ),
    ),
    Step(Press("เรียกรับสินบน"), DETAILS),
    Step("เจ้าหน้าที่เรียกเงินค่าดำเนินการโดยไม่มีใบเสร็จ", WHEN),
    Step(Press("ข้าม"), WHERE),
    Step(Press("ข้าม"), Said("ข้ามขั้นตอนนี้แล้ว\n\nมีผู้เกี่ยวข้องเป็นใครบ้าง", ["ข้าม"])),
    Step(Press("ข้าม"), EVIDENCE),
    Step(Press("ข้าม"), ANONYMOUS),
    Step(Press("ไม่เปิดเผยชื่อ"), Said("ประเภท: แจ้งเบาะแสการทุจริต", SUMMARY_BUTTONS)),
    Step(Press("ส่งเรื่อง"), RECEIVED),
]

ENGLISH_START = Said(
    "Hello, and welcome to the Damrongtham Centre",
    ["🚨 Report corruption", "📝 File a grievance", "📄 Request information", "🔎 Track my case", "🌐 ภาษา"],
)
LANGUAGE_SWITCH = [
    Step("/lang", Said("เลือกภาษา / Choose a language", ["ภาษาไทย", "English"])),
    Step(Press("English"), Said("Language set to English."), ENGLISH_START),
    Step("/start", ENGLISH_START),
    Step(Press("ภาษา"), Said("เลือกภาษา / Choose a language", ["ภาษาไทย", "English"])),
    Step(Press("ภาษาไทย"), Said("ภาษาไทย"), START),
]

# --- reports begun in the citizen's own words (issue 15) ---------------------------------

RIGHT = ["✅ ใช่ ถูกต้อง", "✏️ แก้ไข"]
PLACE = ["📍 ส่งตำแหน่งที่ตั้ง", "เสร็จแล้ว"]
SEND = ["🔒 ส่งโดยไม่เปิดเผยชื่อ", "👤 ส่งโดยเปิดเผยชื่อ", "✏️ แก้ไข", "❌ ยกเลิก"]
OWN_WORDS_TIP = [
    Step("/start", START),
    Step(
        "ผู้รับเหมาจ่ายเงินใต้โต๊ะให้เจ้าหน้าที่กองช่างเพื่อให้ตรวจรับงานถนนที่ยังสร้างไม่เสร็จ",
        Said("น่าจะเป็น: แจ้งเบาะแสการทุจริต · การจัดซื้อจัดจ้างไม่โปร่งใส · เกี่ยวกับบุคลากรของกองช่าง", RIGHT),
    ),
    Step(Press("ใช่ ถูกต้อง"), Said("มีใครเกี่ยวข้อง และเกิดขึ้นเมื่อใด", ["📍 ส่งตำแหน่งที่ตั้ง", "ข้าม"])),
    Step(Photo("tip-photo"), Said("ได้รับไฟล์แล้ว (1/5)", PLACE)),
    Step(Voice("tip-voice"), Said("ได้รับไฟล์แล้ว (2/5)", PLACE)),
    Step(Location(18.7883, 98.9853), Said("ได้รับตำแหน่งที่ตั้งแล้ว", SEND)),
    Step(Press("ส่งโดยไม่เปิดเผยชื่อ"), RECEIVED),
]

EN_RIGHT = ["✅ Yes, that's right", "✏️ Change"]
OWN_WORDS_ENGLISH = [
    Step("/lang", Said("เลือกภาษา / Choose a language", ["ภาษาไทย", "English"])),
    Step(Press("English"), Said("Language set to English."), ENGLISH_START),
    Step(
        "The lamps in our soi have been out for two weeks; it is dark and unsafe at night.",
        Said("This sounds like: Grievance · Other · not about our staff", EN_RIGHT),
    ),
    Step(Press("Change"), Said("Choose what fits", ANY_BUTTONS)),  # LINE pages a list this long
    Step(
        Press("Roads, bridges"),
        Said("Grievance · Roads, bridges and infrastructure · not about our staff", EN_RIGHT),
    ),
    Step(Press("Yes, that's right"), Said("Where did it happen?", ["📍 Share location", "Skip"])),
    Step(Video("lamp-video"), Said("File received (1/5)", ["📍 Share location", "Done"])),
    Step(
        "Soi 5, Huay Kaew Road",
        Said(
            "Summary of your report",
            ["🔒 Send anonymously", "👤 Send with my name", "✏️ Edit", "❌ Cancel"],
        ),
    ),
    Step(Press("Send anonymously"), Said("Reference: CM-2569-000001")),
]

PASTED = "ขอสำเนาสัญญาจ้างก่อสร้างถนนและเอกสารประกอบทั้งหมดของโครงการปี 2568 " * 62  # 4,154 characters
JOINED = len(PASTED[:4000].strip()) + 1 + len(PASTED[4000:].strip())  # the two pieces, a line apart
OWN_WORDS_PHOTO_FIRST_REQUEST = [
    Step("/start", START),
    Step(Photo("contract-photo"), Said("ได้รับไฟล์แล้ว (1/5)\n\nกรุณาเล่ารายละเอียดของเรื่อง")),
    # a paste the app cut in two: one description, kept while it is too long
    Step(PASTED[:4000], Said("ยาวเกินไป (4000 ตัวอักษร)", ["ใช้ 3000 ตัวอักษรแรก"])),
    Step(PASTED[4000:], Said(f"ยาวเกินไป ({JOINED} ตัวอักษร)", ["ใช้ 3000 ตัวอักษรแรก"])),
    Step(Press("ใช้ 3000 ตัวอักษรแรก"), Said("น่าจะเป็น: ขอข้อมูลข่าวสาร · แผนงานและโครงการ", RIGHT)),
    Step(Press("ใช่ ถูกต้อง"), Said("ในรูปแบบใด", ["ข้าม"])),
    Step("สำเนาสัญญาฉบับเต็ม ส่งทางอีเมล", Said("ข้อมูลที่ต้องการ: สำเนาสัญญาฉบับเต็ม ส่งทางอีเมล", SEND)),
    Step(Press("ส่งโดยไม่เปิดเผยชื่อ"), RECEIVED),
]

LIGHTS = "ไฟฟ้าส่องสว่างหน้าหมู่บ้านดับมาสองสัปดาห์แล้ว มืดมาก"
OWN_WORDS_BAD_INPUT = [
    Step("สวัสดี", START),  # a greeting, nothing in progress: the welcome
    Step("สั้นไป", Said("อย่างน้อย 15 ตัวอักษร", START.buttons)),
    Step(Location(18.79, 98.98), Said("กรุณาเลือกจากปุ่ม", START.buttons)),
    Step(LIGHTS, Said("น่าจะเป็น: ร้องเรียน/ร้องทุกข์ · อื่น ๆ · ไม่เกี่ยวกับบุคลากร", RIGHT)),
    Step(Location(18.79, 98.98), Said("กรุณาเลือกจากปุ่ม", RIGHT)),
    Step("ก" * 3001, Said("ยาวเกินไป (3001 ตัวอักษร)", RIGHT)),  # more words, too many: nothing is lost
    Step(Press("ใช่ ถูกต้อง"), Said("เกิดขึ้นที่ใด", ["📍 ส่งตำแหน่งที่ตั้ง", "ข้าม"])),
    Step(Location(123.0, 98.0), Said("ตำแหน่งที่ตั้งไม่ถูกต้อง", ["📍 ส่งตำแหน่งที่ตั้ง", "ข้าม"])),
    Step("/nonsense", Said("ไม่รู้จักคำสั่งนี้"), Said("เกิดขึ้นที่ใด", ["📍 ส่งตำแหน่งที่ตั้ง", "ข้าม"])),
    Step(Press("ข้าม"), Said("สรุปเรื่องที่จะแจ้ง", SEND)),
    Step("พิมพ์อะไรสักอย่าง", Said("กรุณาเลือกจากปุ่ม", SEND)),
    Step(Press("ส่งโดยไม่เปิดเผยชื่อ"), RECEIVED),
]

DIALOGUES = {
    "grievance": GRIEVANCE,
    "corruption_tip": CORRUPTION_TIP,
    "language_switch": LANGUAGE_SWITCH,
    "own_words_tip": OWN_WORDS_TIP,
    "own_words_english": OWN_WORDS_ENGLISH,
    "own_words_photo_first_request": OWN_WORDS_PHOTO_FIRST_REQUEST,
    "own_words_bad_input": OWN_WORDS_BAD_INPUT,
}
each_dialogue = pytest.mark.parametrize("dialogue", list(DIALOGUES.values()), ids=list(DIALOGUES))


@each_dialogue
async def test_on_the_console(dialogue: list[Step], database, orgs, vault, clock, sender) -> None:  # type: ignore[no-untyped-def]
    desk = await make_desk(database, orgs, vault, clock, sender)
    await play(ConsoleDriver(Chat(desk.engine, desk.dispatcher, desk.sender)), dialogue)


@each_dialogue
async def test_on_telegram(dialogue: list[Step], bot: RunningBot) -> None:
    await play(TelegramDriver(bot.api, 6100001), dialogue)


@pytest.fixture
async def line_webhook(db_url: str, secret_key: str, tmp_path) -> AsyncIterator[tuple[FakeLineApi, str]]:  # type: ignore[no-untyped-def]
    async with FakeLineApi() as api:
        settings = Settings(
            DATABASE_URL=db_url,
            DAMRONGTHAM_SECRET_KEY=secret_key,
            DAMRONGTHAM_DATA_DIR=str(tmp_path / "data"),
            LINE_CHANNEL_SECRET=api.channel_secret,
            LINE_CHANNEL_ACCESS_TOKEN=api.access_token,
            LINE_API_BASE_URL=api.url,
        )
        app = await build_app(settings)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(run_server(app, host="127.0.0.1", port=port, stop=stop, ready=ready))
        await asyncio.wait_for(ready.wait(), 15)
        yield api, f"http://127.0.0.1:{port}/line/webhook"
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
        await app.close()


@each_dialogue
async def test_on_line(dialogue: list[Step], line_webhook) -> None:  # type: ignore[no-untyped-def]
    await play(LineDriver(*line_webhook), dialogue)
