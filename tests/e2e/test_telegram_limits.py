"""The Telegram sender keeps within group limits and survives 429s, against the stand-in Bot API."""

from __future__ import annotations

import asyncio
import time

from cryptography.fernet import Fernet

from bot.channels.telegram import TelegramSender, build_application
from bot.outbox import OutboxDispatcher
from bot.throttle import Throttle
from kernel.messages import Reply
from storage.crypto import Vault
from storage.db import Database
from storage.outbox import queue_message
from tests.fakes.fake_bot_api import FakeBotApi


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
