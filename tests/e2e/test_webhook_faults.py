"""Security review D8 and D10 at the web server: `/healthz` reports a database that refuses writes;
while deliveries cannot be stored each is answered 503 (the platform delivers it again) and the
outage is logged once, not once per delivery; bodies no platform sends are answered 400."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from bot.app import App, build_app
from bot.inbox import Inbox
from bot.settings import Settings
from bot.web import build_web_app

SECRET = "webhook-secret-0123456789abcdef"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}


@pytest.fixture
async def served(secret_key: str, tmp_path: Path) -> AsyncIterator[tuple[App, TestClient]]:  # type: ignore[type-arg]
    settings = Settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite3'}", DAMRONGTHAM_SECRET_KEY=secret_key,
        DAMRONGTHAM_DATA_DIR=str(tmp_path / "data"),
    )  # fmt: skip
    app = await build_app(settings)
    web_app = build_web_app(app.services, Inbox(app.db, app.services.vault), telegram_secret=SECRET)
    try:
        async with TestClient(TestServer(web_app)) as client:
            yield app, client
    finally:
        await app.close()


async def _refuse_writes(app: App, table: str, *, on: bool = True) -> None:
    """As a full disk does: reads work, every write to `table` fails."""
    async with app.db.engine.begin() as conn:
        if on:
            for event in ("INSERT", "UPDATE"):
                await conn.execute(text(
                    f"CREATE TRIGGER refuse_{event.lower()}_{table} BEFORE {event} ON {table} "
                    "BEGIN SELECT RAISE(FAIL, 'disk I/O error'); END"
                ))  # fmt: skip
        else:
            for event in ("insert", "update"):
                await conn.execute(text(f"DROP TRIGGER refuse_{event}_{table}"))


def _update(n: int) -> dict[str, object]:
    chat = {"id": 44, "type": "private"}
    sender = {"id": 44, "is_bot": False, "first_name": "A"}
    return {
        "update_id": n,
        "message": {"message_id": n, "date": 1_790_000_000, "text": "/start", "chat": chat, "from": sender},
    }


async def test_health_is_degraded_while_writes_fail(served) -> None:  # type: ignore[no-untyped-def]
    app, client = served
    assert (await client.get("/healthz")).status == 200
    await _refuse_writes(app, "health_probe")
    refused = await client.get("/healthz")
    assert refused.status == 503 and (await refused.json())["database"].startswith("unreachable")
    await _refuse_writes(app, "health_probe", on=False)
    assert (await client.get("/healthz")).status == 200


async def test_deliveries_refused_during_an_outage_are_503_and_logged_once(
    served, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    app, client = served
    await _refuse_writes(app, "inbox")
    with caplog.at_level(logging.INFO):
        for n in range(1, 31):
            answer = await client.post("/telegram/webhook", data=json.dumps(_update(n)), headers=HEADERS)
            assert answer.status == 503
        tracebacks = [r for r in caplog.records if r.exc_info]
        assert len(tracebacks) == 1 and "once until it works again" in tracebacks[0].getMessage()
        await _refuse_writes(app, "inbox", on=False)
        answer = await client.post("/telegram/webhook", data=json.dumps(_update(31)), headers=HEADERS)
        assert answer.status == 200
    assert "works again after 30 failures" in caplog.text
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 2  # the start and the end


async def test_bodies_no_platform_sends_are_400_not_500(served) -> None:  # type: ignore[no-untyped-def]
    _app, client = served
    deep = "[" * 200_000 + "]" * 200_000
    assert (await client.post("/telegram/webhook", data=deep, headers=HEADERS)).status == 400
    flag = {"update_id": True, "message": {}}
    assert (await client.post("/telegram/webhook", data=json.dumps(flag), headers=HEADERS)).status == 400
