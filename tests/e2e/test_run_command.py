"""`damrongtham run` as a process: upgrades the database, polls, answers, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

from tests.fakes.fake_bot_api import FakeBotApi


def _env(api: FakeBotApi, database: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEGRAM_FILE_BASE_URL": api.base_file_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "DAMRONGTHAM_DATA_DIR": str(tmp_path / "data"),
    }


async def test_run_command_polls_answers_and_stops_cleanly(api: FakeBotApi, tmp_path) -> None:  # type: ignore[no-untyped-def]
    database = tmp_path / "bot.sqlite3"
    env = _env(api, database, tmp_path)
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


async def test_a_second_process_serving_telegram_from_the_same_sqlite_file_is_refused(  # type: ignore[no-untyped-def]
    api: FakeBotApi, tmp_path
) -> None:
    """SQLite takes one process per platform (issue 18): a second says so at start-up and stops;
    the first goes on. A process killed outright leaves no lock behind (tests/e2e/test_kill.py)."""
    database = tmp_path / "bot.sqlite3"
    env = _env(api, database, tmp_path)
    first = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await api.wait_for_call("getUpdates", timeout=30)
        for command in (["run"], ["serve", "--telegram-polling", "--port", "0", "--metrics-port", "0"]):
            second = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", *command, env=env, cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            output, _ = await asyncio.wait_for(second.communicate(), 30)
            assert second.returncode == 2, output.decode()
            assert "Another process already serves telegram from the SQLite database" in output.decode()
            assert "Traceback" not in output.decode()
        api.send_text(6660002, "/start")
        welcome = await api.wait_for_messages(6660002, 1, timeout=15)
        assert "ศูนย์ดำรงธรรม" in (welcome[0].text or "")
    finally:
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.wait(), 20)
