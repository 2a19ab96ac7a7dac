"""One citizen scenario, played on the console, on Telegram and on LINE: every channel says the same."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
from collections.abc import Awaitable, Callable

import pytest

from bot.app import build_app, run_server
from bot.channels.console import CHAT_ID, ConsoleSender, to_incoming
from bot.settings import Settings
from tests.e2e.conftest import Citizen, RunningBot
from tests.fakes.fake_line_api import FakeLineApi

# (what the citizen does, the button label or text, what the answer must contain)
SCENARIO: list[tuple[str, str, str]] = [
    ("text", "/start", "กรุณาเลือกเรื่องที่ต้องการแจ้ง"),
    ("press", "ร้องเรียน", "เกี่ยวข้องกับบุคลากร"),
    ("press", "ไม่แน่ใจ", "ส่วนราชการใด"),
    ("press", "ข้าม / ไม่แน่ใจ", "ประเภทของเรื่อง"),
    ("press", "ขยะ", "รายละเอียดของเรื่อง"),
    ("text", "สั้น", "สั้นเกินไป"),
    ("text", "รถเก็บขยะไม่มาเก็บที่หมู่บ้านมาสามสัปดาห์แล้ว", "เมื่อใด"),
    ("press", "ข้าม", "เกิดขึ้นที่ใด"),
    ("text", "หมู่บ้านสันป่าเปา", "มีผู้เกี่ยวข้อง"),
    ("press", "ข้าม", "หลักฐาน"),
    ("press", "ข้าม", "ไม่เปิดเผยชื่อ"),
    ("press", "ไม่เปิดเผยชื่อ", "สรุปเรื่องที่จะแจ้ง"),
    ("press", "ส่งเรื่อง", "รหัสติดตาม"),
    ("text", "/status", "CM-2569-000001"),
]

Step = Callable[[str, str, str], Awaitable[str]]


async def play(step: Step) -> None:
    for kind, value, expected in SCENARIO:
        answer = await step(kind, value, expected)
        assert expected in answer, f"{kind} {value!r}: expected {expected!r} in {answer!r}"


async def test_on_the_console(db_url: str, secret_key: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        DATABASE_URL=db_url, DAMRONGTHAM_SECRET_KEY=secret_key, DAMRONGTHAM_DATA_DIR=str(tmp_path)
    )
    app = await build_app(settings)
    out = io.StringIO()
    sender = ConsoleSender(out)
    app.dispatcher.senders["console"] = sender

    async def step(kind: str, value: str, expected: str) -> str:
        line = value
        if kind == "press":  # the console numbers its buttons: type the number
            labels = [b.label for b in sender.buttons]
            line = str(next(i for i, label in enumerate(labels, 1) if value in label))
        start = out.tell()
        await app.engine.handle(to_incoming(line, sender.buttons))
        await app.dispatcher.drain()
        return out.getvalue()[start:]

    await play(step)
    assert CHAT_ID == "console"
    await app.close()


async def test_on_telegram(bot: RunningBot) -> None:
    citizen = Citizen(bot.api, 6100001)

    async def step(kind: str, value: str, expected: str) -> str:
        if kind == "press" and value == "ข้าม" and "มีผู้เกี่ยวข้อง" in expected:
            return await citizen.do(value, expected)  # the location step's reply keyboard sends its label
        return await citizen.do(("press", value) if kind == "press" else value, expected)

    await play(step)


@pytest.fixture
async def line_server(db_url: str, secret_key: str, tmp_path):  # type: ignore[no-untyped-def]
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


async def test_on_line(line_server) -> None:  # type: ignore[no-untyped-def]
    api, webhook = line_server
    user = FakeLineApi.new_user_id()

    def quick_reply(label: str) -> str:
        for message in reversed(api.messages_to(user)):
            for item in (message.get("quickReply") or {}).get("items") or []:
                if label in item["action"].get("displayText", item["action"].get("label", "")):
                    return str(item["action"]["data"])
        raise AssertionError(f"no quick reply {label!r}")

    async def step(kind: str, value: str, expected: str) -> str:
        before = len(api.texts_to(user))
        if kind == "press" and value == "ข้าม" and "มีผู้เกี่ยวข้อง" in expected:
            event = api.make_event_postback(user, quick_reply(value))
        elif kind == "press":
            event = api.make_event_postback(user, quick_reply(value))
        else:
            event = api.make_event_text(user, value)
        assert await api.post_webhook(webhook, [event]) == 200
        for _ in range(300):
            answer = "\n".join(api.texts_to(user)[before:])
            if expected in answer:
                await asyncio.sleep(0.05)
                return "\n".join(api.texts_to(user)[before:])
            await asyncio.sleep(0.02)
        return "\n".join(api.texts_to(user)[before:])

    await play(step)
