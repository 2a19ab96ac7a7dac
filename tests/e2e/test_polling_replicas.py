"""Several `serve --telegram-polling` replicas on one PostgreSQL database (issue 18): one of them
fetches Telegram's updates at a time, and when it is killed another takes over within seconds."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet

from tests.conftest import _drop_postgres_database, _fresh_postgres_database, require_postgres
from tests.fakes.fake_bot_api import FakeBotApi


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(env: dict[str, str], cwd: Path) -> tuple[asyncio.subprocess.Process, int]:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--telegram-polling", "--host", "127.0.0.1",
        "--port", str(port), "--metrics-port", "0", env=env, cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    if answer.status == 200:
                        return proc, port
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError("the replica did not become healthy within 30 s")


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
        first, _ = await _serve(env, tmp_path)  # migrates the database first
        replicas.append(first)
        await api.wait_for_call("getUpdates", timeout=30)
        second, _ = await _serve(env, tmp_path)
        replicas.append(second)
        await asyncio.sleep(5)  # the second has tried to be elected twice by now
        api.send_text(7770001, "/start")
        assert "ศูนย์ดำรงธรรม" in ((await api.wait_for_messages(7770001, 1, timeout=15))[0].text or "")
        assert api.poll_conflicts == 0  # never two getUpdates at once

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
