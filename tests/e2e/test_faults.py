"""Faults: the Bot API failing for a while, PostgreSQL dropping every connection mid-conversation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from bot.channels.telegram import TelegramSender, build_application
from bot.outbox import OutboxDispatcher
from bot.throttle import Throttle
from kernel.messages import Reply
from storage.crypto import Vault
from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import queue_message
from tests.e2e.conftest import Citizen, RunningBot, press
from tests.fakes.fake_bot_api import FakeBotApi


async def test_the_outbox_holds_through_500s_429s_and_timeouts_then_drains(
    api: FakeBotApi, sqlite_database: Database
) -> None:
    vault = Vault(Fernet.generate_key().decode())
    application = build_application(api.token, base_url=api.base_url, base_file_url=api.base_file_url)
    await application.initialize()
    sender = TelegramSender(
        application, Throttle(overall=(1000, 1.0), private=(1000, 1.0), group=(1000, 1.0))
    )
    dispatcher = OutboxDispatcher(sqlite_database, vault, {"telegram": sender})
    chats = ["6200001", "6200002", "-1006200003"]
    expected = {chat: [f"ข้อความ {chat[-1]}-{n}" for n in range(8)] for chat in chats}
    async with sqlite_database.session() as s:
        for n in range(8):
            for chat in chats:
                await queue_message(
                    s, vault, org_id=None, case_id=None, kind="reply", target="reply", channel="telegram",
                    chat_id=chat, reply=Reply(text=expected[chat][n]), now=datetime.now(UTC),
                )  # fmt: skip
        await s.commit()
    api.fail_next("sendMessage", 3, error_code=500, description="Internal Server Error")
    api.fail_next(
        "sendMessage", 2, error_code=429, retry_after=1, description="Too Many Requests: retry after 1"
    )
    api.delay_next("sendMessage", 1, 7.0)  # longer than the client waits: a time-out that still delivered
    runner = asyncio.create_task(dispatcher.run(idle_seconds=0.1))
    try:
        for chat in chats:
            await api.wait_for_messages(int(chat), 8, timeout=60)
    finally:
        runner.cancel()  # stopping records what went
        await asyncio.gather(runner, return_exceptions=True)
        await application.shutdown()
    for chat in chats:
        got = [m.text for m in api.messages_to(int(chat))]
        first_seen = list(dict.fromkeys(got))
        assert first_seen == expected[chat]  # none lost, each chat in order
        assert set(got) <= set(expected[chat])  # a repeat after a time-out is the same message, never another
    async with sqlite_database.session() as s:
        statuses = set((await s.execute(select(OutboxMessage.status))).scalars())
    assert statuses == {"sent"}  # all recorded, the last ones when the dispatcher stopped


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite has no server to lose
async def test_postgresql_dropping_connections_mid_report_loses_nothing(bot: RunningBot) -> None:
    assert bot.app is not None and bot.app.db.dialect == "postgresql"
    citizen = Citizen(bot.api, 6300001)
    await citizen.play(
        [
            ("/start", "กรุณาเลือก"),
            (press("ร้องเรียน"), "บุคลากร"),
            (press("ไม่ใช่"), "ส่วนราชการใด"),
        ]
    )
    # every connection of the bot's database is cut, as when the server restarts
    database = bot.app.db.engine.url.database
    admin = Database(bot.app.db.url.rsplit("/", 1)[0] + "/test")
    terminate = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = :db AND pid <> pg_backend_pid()"
    )
    async with admin.engine.connect() as conn:
        await conn.execute(text(terminate), {"db": database})
        await conn.commit()
    await admin.dispose()
    # the bot answers (at worst "please try again in a moment"), keeps what was entered, and carries on
    before = len(citizen.received)
    bot.api.press(citizen.chat_id, citizen._button_data("ข้าม / ไม่แน่ใจ"))
    answer = "\n".join(m.text or "" for m in await bot.api.wait_for_messages(citizen.chat_id, before + 1))
    assert "ประเภทของเรื่อง" in answer or "ระบบขัดข้องชั่วคราว" in answer
    await citizen.play([("/start", "ยังกรอกไม่เสร็จ"), (press("ทำต่อ"), "กรุณา")])
    assert bot.app.services.metrics.errors["handler"] == 0  # no unexpected error, only the database's
