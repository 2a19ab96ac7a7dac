"""`damrongtham serve`, as an operator starts it, keeps spare tracking codes hashed ahead of need:
a burst of reports takes codes hashed before it (DAMRONGTHAM_TRACKING_CODES_AHEAD)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet

from tests.support.replicas import serve

TOKEN = "metrics-token-for-this-test-only-0123456789"
READY = re.compile(r"^damrongtham_tracking_codes_ready (\d+)", re.M)


async def test_a_serving_process_keeps_the_spare_codes_it_is_told_to(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DAMRONGTHAM_", "TELEGRAM_", "LINE_"))},
        "DATABASE_URL": "",  # the embedded SQLite database in the data folder
        "DAMRONGTHAM_SECRET_KEY": Fernet.generate_key().decode(),
        "DAMRONGTHAM_DATA_DIR": str(tmp_path / "data"),
        "DAMRONGTHAM_METRICS_TOKEN": TOKEN,
        "DAMRONGTHAM_TRACKING_CODES_AHEAD": "3",
    }
    proc, port = await serve(env, tmp_path, log=tmp_path / "serve.log")
    ready: list[int] = []
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            for _ in range(300):
                async with http.get(f"http://127.0.0.1:{port}/metrics") as answer:
                    found = READY.search(await answer.text())
                ready.append(int(found.group(1)) if found else -1)
                if ready[-1] == 3:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            async with http.get(f"http://127.0.0.1:{port}/metrics") as answer:
                later = READY.search(await answer.text())
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
    assert ready[-1] == 3, ready[-5:]
    assert later is not None and later.group(1) == "3"  # as many as asked, no more
