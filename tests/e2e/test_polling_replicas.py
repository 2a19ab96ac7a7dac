"""Several `serve --telegram-polling` replicas on one PostgreSQL database (issue 18): one of them
fetches Telegram's updates at a time, and when it is killed another takes over within seconds."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from cryptography.fernet import Fernet

from tests.conftest import _drop_postgres_database, _fresh_postgres_database, require_postgres
from tests.fakes.fake_bot_api import FakeBotApi
from tests.support.replicas import serve


async def test_one_replica_polls_and_another_takes_over_within_seconds_of_a_sigkill(
    api: FakeBotApi, tmp_path: Path
) -> None:
    require_postgres()
    url = await _fresh_postgres_database()
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEGRAM_FILE_BASE_URL": api.base_file_url,
        "DATABASE_URL": url,
        "DAMRONGTHAM_SECRET_KEY": Fernet.generate_key().decode(),
        "DAMRONGTHAM_DATA_DIR": str(tmp_path / "data"),
    }
    replicas: list[asyncio.subprocess.Process] = []
    try:
        first, _ = await serve(env, tmp_path, "--telegram-polling")  # migrates the database first
        replicas.append(first)
        await api.wait_for_call("getUpdates", timeout=30)
        second, _ = await serve(env, tmp_path, "--telegram-polling")
        replicas.append(second)
        await asyncio.sleep(5)  # the second has tried to be elected twice by now
        api.send_text(7770001, "/start")
        assert "ศูนย์ดำรงธรรม" in ((await api.wait_for_messages(7770001, 1, timeout=15))[0].text or "")
        assert api.poll_conflicts == 0  # never two getUpdates at once
        # the first (which also sends the messages) records its send: a send still in flight when
        # its process dies goes again from the next sender (at least once), which is not this test's
        await asyncio.sleep(1)

        first.send_signal(signal.SIGKILL)
        await first.wait()
        killed = time.monotonic()
        api.send_text(7770002, "/start")
        answer = await api.wait_for_messages(7770002, 1, timeout=15)
        assert "ศูนย์ดำรงธรรม" in (answer[0].text or "")
        assert time.monotonic() - killed < 10  # taken over within seconds, not a lease's minutes
        # at most the dead poller's own pending request, ended by the new poller's first
        assert api.poll_conflicts <= 1
        assert len(api.messages_to(7770001)) == 1  # nothing answered twice
    finally:
        for proc in replicas:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await _drop_postgres_database(url)
