"""`damrongtham run` as a process: upgrades the database, polls, answers, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys

from tests.fakes.fake_bot_api import FakeBotApi


async def test_run_command_polls_answers_and_stops_cleanly(api: FakeBotApi, tmp_path) -> None:  # type: ignore[no-untyped-def]
    database = tmp_path / "bot.sqlite3"
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEGRAM_FILE_BASE_URL": api.base_file_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "DAMRONGTHAM_DATA_DIR": str(tmp_path / "data"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await api.wait_for_call("getUpdates", timeout=30)
        api.send_text(6660001, "/start")
        welcome = await api.wait_for_messages(6660001, 1, timeout=15)
        assert "ศูนย์ดำรงธรรม" in (welcome[0].text or "")
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, output.decode()
    assert api.token not in output.decode()  # the token never reaches the log
    tables = {row[0] for row in sqlite3.connect(database).execute("SELECT name FROM sqlite_master")}
    assert {"cases", "outbox", "alembic_version"} <= tables
