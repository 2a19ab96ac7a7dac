"""A running bot: the real Telegram adapter polling a local stand-in Bot API server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_app, run_telegram
from bot.settings import Settings
from storage import chats as chat_repo
from tests.fakes.fake_bot_api import FakeBotApi, SentMessage

OFFICE, LEGAL, PERSONNEL, COORDINATORS = -100101, -100102, -100103, -100109


@dataclass
class RunningBot:
    api: FakeBotApi
    settings: Settings
    app: App | None = None
    task: asyncio.Task[None] | None = None
    stop_event: asyncio.Event | None = None

    async def start(self) -> None:
        self.app = await build_app(self.settings)
        self.stop_event = asyncio.Event()
        since = len(self.api.calls)
        self.task = asyncio.create_task(run_telegram(self.app, stop=self.stop_event))
        await self.api.wait_for_call("getUpdates", since=since, timeout=15)

    async def stop(self) -> None:
        if self.task is None or self.app is None or self.stop_event is None:
            return
        self.stop_event.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 15)
        await self.app.close()
        self.task = None

    async def bind(self, target: str, chat_id: int) -> None:
        assert self.app is not None
        services = self.app.services
        code = target.removeprefix("division:")
        async with self.app.db.session() as session:
            await chat_repo.bind_chat(
                session,
                org_id=services.directory.org_ids["CM"],
                target=target,
                division_id=services.directory.division_ids.get(("CM", code)),
                channel="telegram",
                chat_id=str(chat_id),
                vault=services.vault,
            )
            await session.commit()


class Citizen:
    """A person in a private chat with the bot, pressing buttons by their label."""

    def __init__(self, api: FakeBotApi, chat_id: int, *, language_code: str = "th") -> None:
        self.api, self.chat_id, self.language_code = api, chat_id, language_code

    @property
    def received(self) -> list[SentMessage]:
        return self.api.messages_to(self.chat_id)

    async def _expect(self, before: int, expected: str, within: float = 10.0) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            texts = "\n".join(m.text or "" for m in self.received[before:])
            if expected in texts:
                await asyncio.sleep(0.05)  # let the rest of this answer arrive
                return "\n".join(m.text or "" for m in self.received[before:])
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {expected!r} in chat {self.chat_id}; got:\n{texts}")

    def _button_data(self, label: str) -> str:
        for msg in reversed(self.received):
            if msg.buttons:
                exact = [b["callback_data"] for b in msg.buttons if b.get("text") == label]
                partial = [b["callback_data"] for b in msg.buttons if label in str(b.get("text"))]
                if exact or partial:
                    return str((exact or partial)[0])
                raise AssertionError(f"no button {label!r} in {msg.button_texts}")
        raise AssertionError("no message with buttons")

    async def do(self, action: str | tuple[str, Any], expected: str) -> str:
        before = len(self.received)
        kw: dict[str, Any] = {"language_code": self.language_code}
        if isinstance(action, str):
            self.api.send_text(self.chat_id, action, **kw)
        else:
            kind, value = action
            if kind == "press":
                self.api.press(self.chat_id, self._button_data(value), **kw)
            elif kind == "photo":
                self.api.send_photo(self.chat_id, file_id=value, **kw)
            elif kind == "document":
                self.api.send_document(self.chat_id, file_id=value, **kw)
            elif kind == "location":
                self.api.send_location(self.chat_id, value[0], value[1], **kw)
            elif kind == "contact":
                self.api.send_contact(self.chat_id, value, **kw)
            elif kind == "sticker":
                self.api.send_sticker(self.chat_id, **kw)
            elif kind == "voice":
                self.api.send_voice(self.chat_id, *([value] if value else []), **kw)
            elif kind in ("audio", "video", "video_note"):
                self.api.send_media(self.chat_id, kind, value, **kw)
            else:
                raise ValueError(kind)
        return await self._expect(before, expected)

    async def play(self, dialogue: list[tuple[str | tuple[str, Any], str]]) -> None:
        for action, expected in dialogue:
            await self.do(action, expected)


def press(label: str) -> tuple[str, str]:
    return ("press", label)


def anonymous_tip_off(description: str) -> list[tuple[str | tuple[str, Any], str]]:
    """A citizen's whole dialogue for an anonymous bribery tip-off about personnel, every optional
    step skipped: it goes to the personnel division, legal informed."""
    return [
        ("/start", "กรุณาเลือก"),
        (press("แจ้งเบาะแสการทุจริต"), "บุคลากร"),
        (press("ใช่"), "ส่วนราชการใด"),
        (press("ข้าม / ไม่แน่ใจ"), "ประเภท"),
        (press("สินบน"), "รายละเอียด"),
        (description, "เมื่อใด"),
        (press("ข้าม"), "ที่ใด"),
        ("ข้าม", "ผู้เกี่ยวข้อง"),
        (press("ข้าม"), "หลักฐาน"),
        (press("ข้าม"), "ไม่เปิดเผยชื่อ"),
        (press("ไม่เปิดเผยชื่อ"), "สรุป"),
        (press("ส่งเรื่อง"), "รหัสติดตาม"),
    ]


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


async def start_bound_bot(
    api: FakeBotApi, db_url: str, secret_key: str, tmp_path: Path, *, limits: str = "1000/1,1000/1,1000/1"
) -> RunningBot:
    """The bot running against the stand-in, every division's and the coordinators' chat bound.
    Scripted users type faster than people: the sending limits are relaxed unless `limits` says
    otherwise (count/seconds overall, per private chat, per group)."""
    settings = Settings(
        DATABASE_URL=db_url,
        TELEGRAM_BOT_TOKEN=api.token,
        TELEGRAM_API_BASE_URL=api.base_url,
        TELEGRAM_FILE_BASE_URL=api.base_file_url,
        DAMRONGTHAM_SECRET_KEY=secret_key,
        DAMRONGTHAM_DATA_DIR=str(tmp_path / "data"),
        TELEGRAM_RATE_LIMITS=limits,
    )
    running = RunningBot(api, settings)
    await running.start()
    for target, chat in (
        ("division:office", OFFICE),
        ("division:legal", LEGAL),
        ("division:personnel", PERSONNEL),
        ("coordinators", COORDINATORS),
    ):
        await running.bind(target, chat)
    return running


@pytest.fixture
async def bot(api: FakeBotApi, db_url: str, secret_key: str, tmp_path) -> AsyncIterator[RunningBot]:  # type: ignore[no-untyped-def]
    running = await start_bound_bot(api, db_url, secret_key, tmp_path)
    yield running
    await running.stop()
