"""The bot process is killed (SIGKILL) at random moments while citizens report; after each restart
every reporter shown a reference has exactly that case, delivered to staff, and every half-finished
report carries on at its step."""

from __future__ import annotations

import asyncio
import os
import random
import re
import sys

import pytest
from sqlalchemy import select

from bot.app import build_app
from bot.settings import Settings
from storage import chats as chat_repo
from storage.db import Database
from storage.models import Case
from tests.fakes.fake_bot_api import FakeBotApi

OFFICE = -100500
# 20 kills under CI; 3 on a developer's machine, where the 20 take two minutes. KILL_SEEDS overrides.
SEEDS = int(os.environ.get("KILL_SEEDS", "20" if os.environ.get("CI") == "true" else "3"))
CITIZENS = 8
DIALOGUE: list[tuple[str, str, str]] = [  # (kind, text or button label, what the answer holds)
    ("text", "/start", "กรุณาเลือกเรื่องที่ต้องการแจ้ง"),
    ("press", "ร้องเรียน", "บุคลากร"),
    ("press", "ไม่ใช่", "ส่วนราชการใด"),
    ("press", "ข้าม / ไม่แน่ใจ", "ประเภทของเรื่อง"),
    ("press", "ถนน", "รายละเอียดของเรื่อง"),
    ("text", "ถนนในหมู่บ้านเป็นหลุมลึกหลายจุด", "เมื่อใด"),
    ("press", "ข้าม", "เกิดขึ้นที่ใด"),
    ("text", "ข้าม", "มีผู้เกี่ยวข้อง"),
    ("press", "ข้าม", "หลักฐาน"),
    ("press", "ข้าม", "ไม่เปิดเผยชื่อ"),
    ("press", "ไม่เปิดเผยชื่อ", "สรุปเรื่องที่จะแจ้ง"),
    ("press", "ส่งเรื่อง", "รหัสติดตาม"),
]


class Process:
    def __init__(self, env: dict[str, str], cwd: str) -> None:
        self.env, self.cwd = env, cwd
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, api: FakeBotApi) -> None:
        since = len(api.calls)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=self.env, cwd=self.cwd,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await api.wait_for_call("getUpdates", since=since, timeout=30)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no clean-up of any kind
        await self.proc.wait()


def _texts(api: FakeBotApi, chat: int) -> list[str]:
    return [m.text or "" for m in api.messages_to(chat)]


def _button(api: FakeBotApi, chat: int, label: str) -> str | None:
    for msg in reversed(api.messages_to(chat)):
        if msg.buttons:
            for b in msg.buttons:
                if b.get("text") == label or label in str(b.get("text")):
                    return str(b["callback_data"])
            return None
    return None


async def _run_seed(seed: int, api: FakeBotApi, process: Process, db_url: str) -> None:
    rnd = random.Random(seed)
    chats = [7_000_000 + seed * 100 + n for n in range(CITIZENS)]
    step = dict.fromkeys(chats, 0)
    seen = dict.fromkeys(chats, 0)  # messages already read by each citizen
    kill_at = {rnd.randrange(1, CITIZENS * len(DIALOGUE) - 1) for _ in range(2)}  # two kills a seed
    sent = 0
    while any(step[c] < len(DIALOGUE) for c in chats):
        chat = rnd.choice([c for c in chats if step[c] < len(DIALOGUE)])
        kind, value, expect = DIALOGUE[step[chat]]
        if kind == "press":
            data = _button(api, chat, value)
            assert data is not None, f"seed {seed}: no button {value!r} for {chat}: {_texts(api, chat)[-2:]}"
            api.press(chat, data)
        else:
            api.send_text(chat, value)
        sent += 1
        if sent in kill_at:
            await asyncio.sleep(rnd.random() * 0.05)  # mid-update, mid-commit or mid-send
            await process.kill()
            await process.start(api)
        for _ in range(600):
            fresh = _texts(api, chat)[seen[chat] :]
            if any(expect in t for t in fresh):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"seed {seed}: {chat} never got {expect!r} after {value!r}; got {fresh}")
        seen[chat] = len(_texts(api, chat))
        step[chat] += 1
    await asyncio.sleep(0.3)
    shown = {}
    for chat in chats:
        refs = {r for t in _texts(api, chat) for r in re.findall(r"CM-\d{4}-\d{6}", t) if "รหัสติดตาม" in t}
        assert len(refs) == 1, f"seed {seed}: {chat} was shown {refs}"
        shown[chat] = refs.pop()
    db = Database(db_url)
    try:
        async with db.session() as s:
            stored = {c.reference: c for c in (await s.execute(select(Case))).scalars()}
    finally:
        await db.dispose()
    for reference in shown.values():
        assert reference in stored, f"seed {seed}: {reference} shown but not stored"
    assert len(set(shown.values())) == CITIZENS
    assert len(stored) == (seed + 1) * CITIZENS, f"seed {seed}: a submission was stored twice or lost"
    await api.wait_for_messages(OFFICE, 1)
    cards = "\n".join(_texts(api, OFFICE))
    for reference in shown.values():
        assert reference in cards, f"seed {seed}: {reference} never reached the staff chat"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sigkill_while_citizens_report(api: FakeBotApi, db_url: str, secret_key: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEGRAM_FILE_BASE_URL": api.base_file_url,
        "DATABASE_URL": db_url,
        "DAMRONGTHAM_SECRET_KEY": secret_key,
        "DAMRONGTHAM_DATA_DIR": str(tmp_path / "data"),
        "TELEGRAM_RATE_LIMITS": "1000/1,1000/1,1000/1",
        "DAMRONGTHAM_LOG_LEVEL": "WARNING",
    }
    settings = Settings(
        DATABASE_URL=db_url, DAMRONGTHAM_SECRET_KEY=secret_key, DAMRONGTHAM_DATA_DIR=str(tmp_path / "data")
    )
    app = await build_app(settings)
    d = app.services.directory
    async with app.db.session() as s:
        await chat_repo.bind_chat(
            s,
            org_id=d.org_ids["CM"],
            target="division:office",
            division_id=d.division_ids[("CM", "office")],
            channel="telegram",
            chat_id=str(OFFICE),
            vault=app.services.vault,
        )
        await s.commit()
    await app.close()
    process = Process(env, str(tmp_path))
    await process.start(api)
    try:
        for seed in range(SEEDS):
            await _run_seed(seed, api, process, db_url)
    finally:
        await process.kill()
