"""The Telegram sender keeps within group limits and survives 429s, against the stand-in Bot API."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cryptography.fernet import Fernet

from bot.channels.telegram import TelegramSender, build_application
from bot.outbox import OutboxDispatcher
from bot.throttle import Throttle
from kernel.messages import Reply
from storage.crypto import Vault
from storage.db import Database
from storage.outbox import queue_message
from tests.e2e.conftest import Citizen, press, start_bound_bot
from tests.fakes.fake_bot_api import FakeBotApi, SendingLimits


async def _queue(db: Database, vault: Vault, chat_id: str, texts: list[str]) -> None:
    from datetime import UTC, datetime

    async with db.session() as s:
        for text in texts:
            await queue_message(
                s, vault, org_id=None, case_id=None, kind="reminder", target="x", channel="telegram",
                chat_id=chat_id, reply=Reply(text=text), now=datetime.now(UTC),
            )  # fmt: skip
        await s.commit()


async def test_a_group_over_its_limit_waits_while_other_chats_go_on(
    api: FakeBotApi, sqlite_database: Database
) -> None:
    vault = Vault(Fernet.generate_key().decode())
    application = build_application(api.token, base_url=api.base_url, base_file_url=api.base_file_url)
    await application.initialize()
    # the group limit scaled down to 5 a second, so the test waits seconds rather than minutes
    throttle = Throttle(overall=(30, 1.0), private=(3, 3.0), group=(5, 1.0))
    dispatcher = OutboxDispatcher(sqlite_database, vault, {"telegram": TelegramSender(application, throttle)})
    texts = [f"แจ้งเตือน {n}" for n in range(12)]
    await _queue(sqlite_database, vault, "-100777", texts)
    await _queue(sqlite_database, vault, "5550123", ["private"])
    api.fail_next(
        "sendMessage", 1, error_code=429, retry_after=1, description="Too Many Requests: retry after 1"
    )
    runner = asyncio.create_task(dispatcher.run(idle_seconds=0.1))
    started = time.monotonic()
    try:
        sent = await api.wait_for_messages(-100777, 12, timeout=20)
    finally:
        runner.cancel()  # stopping records what went
        await asyncio.gather(runner, return_exceptions=True)
        await application.shutdown()
    assert [m.text for m in sent] == texts  # in order, none lost, none twice
    assert time.monotonic() - started >= 2.0  # 12 messages at 5 a second
    assert [m.text for m in api.messages_to(5550123)] == ["private"]


async def test_a_quick_citizen_is_answered_at_once_and_pushes_keep_the_pace(
    db_url: str, secret_key: str, tmp_path: Path
) -> None:
    """Against a stand-in enforcing Telegram's limits (a private chat: bursts, about one a second
    sustained): every answer to a citizen acting twice a second arrives within a second, and nothing
    is refused; messages pushed to a private chat keep its pace."""
    async with FakeBotApi(limits=SendingLimits()) as api:
        bot = await start_bound_bot(api, db_url, secret_key, tmp_path, limits="30/1,3/3,20/60")
        try:
            citizen = Citizen(api, 5550777)
            report = [
                ("/start", "เล่าเรื่อง"),
                ("ถนนหน้าโรงเรียนเป็นหลุมใหญ่ รถจักรยานยนต์ล้มทุกวัน", "น่าจะเป็น"),
                (press("ใช่ ถูกต้อง"), "เกิดขึ้นที่ใด"),
                ("ข้าม", "สรุปเรื่องที่จะแจ้ง"),  # the reply keyboard's skip sends its label
                (press("ส่งโดยไม่เปิดเผยชื่อ"), "รหัสติดตาม"),
            ]
            took = []
            for action, expected in [*report, *report, ("/help", "/status"), ("/status", "CM-")]:
                started = time.monotonic()
                await citizen.do(action, expected)
                took.append(time.monotonic() - started)
                await asyncio.sleep(max(0.0, started + 0.5 - time.monotonic()))  # an action every 0.5 s
            assert max(took) < 1.0, " ".join(f"{t:.2f}" for t in took)
            assert api.too_many == []

            assert bot.app is not None
            pushed = [f"ความคืบหน้า {n}" for n in range(5)]
            started = time.monotonic()
            await _queue(bot.app.db, bot.app.services.vault, "5550778", pushed)
            bot.app.dispatcher.kick()
            arrived = await api.wait_for_messages(5550778, 5, timeout=15)
            assert [m.text for m in arrived] == pushed
            assert time.monotonic() - started >= 2.5  # three in three seconds, then the rest
            assert api.too_many == []
        finally:
            await bot.stop()
