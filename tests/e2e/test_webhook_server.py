"""`damrongtham serve`: Telegram's webhook checked, stored, answered and handled; health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from bot.app import App, build_app, run_server
from bot.inbox import Inbox
from bot.settings import Settings
from tests.fakes.fake_bot_api import FakeBotApi
from tests.support.replicas import free_port

SECRET = "webhook-secret-0123456789abcdef"


@dataclass
class Server:
    url: str
    metrics_url: str
    app: App
    api: FakeBotApi

    async def post(self, body: bytes | dict, *, secret: str | None = SECRET) -> aiohttp.ClientResponse:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        async with aiohttp.ClientSession() as http:
            response = await http.post(f"{self.url}/telegram/webhook", data=data, headers=headers)
            await response.read()
            return response


def _update(update_id: int, chat_id: int, text: str) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_790_000_000, "text": text,
            "chat": {"id": chat_id, "type": "private", "first_name": "Somchai"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Somchai"},
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }  # fmt: skip


@pytest.fixture
async def server(api: FakeBotApi, db_url: str, secret_key: str, tmp_path) -> AsyncIterator[Server]:  # type: ignore[no-untyped-def]
    settings = Settings(
        DATABASE_URL=db_url, TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_API_BASE_URL=api.base_url,
        TELEGRAM_FILE_BASE_URL=api.base_file_url, DAMRONGTHAM_SECRET_KEY=secret_key,
        DAMRONGTHAM_DATA_DIR=str(tmp_path / "data"), TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_RATE_LIMITS="1000/1,1000/1,1000/1",
    )  # fmt: skip
    app = await build_app(settings)
    # a delivery stored before a crash, never handled: the restarted server handles it
    await Inbox(app.db, app.services.vault).store("telegram", "500", _update(500, 4400001, "/help"))
    port, metrics_port = free_port(), free_port()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_server(app, host="127.0.0.1", port=port, stop=stop, ready=ready, metrics_port=metrics_port)
    )
    await asyncio.wait_for(ready.wait(), 15)
    yield Server(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics", app, api)
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 15)
    await app.close()


async def test_a_signed_update_is_answered_and_handled_once(server: Server) -> None:
    api = server.api
    assert "วิธีใช้" in ((await api.wait_for_messages(4400001, 1))[0].text or "")  # stored before the restart
    response = await server.post(_update(501, 4400002, "/start"))
    assert response.status == 200
    welcome = await api.wait_for_messages(4400002, 1)
    assert "ศูนย์ดำรงธรรม" in (welcome[0].text or "")
    again = await server.post(_update(501, 4400002, "/start"))  # Telegram redelivers
    assert again.status == 200
    await asyncio.sleep(0.5)
    assert len(api.messages_to(4400002)) == 1


async def test_bad_secret_malformed_and_oversized_bodies_change_nothing(server: Server) -> None:
    assert (
        await server.post(_update(600, 4400003, "/start"), secret="wrong-secret-0123456789")
    ).status == 403
    assert (await server.post(_update(601, 4400003, "/start"), secret=None)).status == 403
    assert (await server.post(b"{not json")).status == 400
    assert (await server.post({"message": {}})).status == 400
    huge = {"update_id": 602, "padding": "x" * (1024 * 1024)}
    assert (await server.post(huge)).status == 413
    await asyncio.sleep(0.5)
    assert server.api.messages_to(4400003) == []


async def test_health_and_metrics(server: Server) -> None:
    await server.post(_update(700, 4400004, "/start"))
    await server.api.wait_for_messages(4400004, 1)
    async with aiohttp.ClientSession() as http:
        health = await http.get(f"{server.url}/healthz")
        body = await health.json()
        metrics = await (await http.get(server.metrics_url)).text()
        # not on the public port: there it needs DAMRONGTHAM_METRICS_TOKEN (test_metrics_token)
        assert (await http.get(f"{server.url}/metrics")).status == 404
    assert health.status == 200 and body["database"] == "ok" and body["scheduler"] == "running"
    assert "outbox_backlog" in body and body["inbox_set_aside"] == 0
    assert 'damrongtham_updates_handled_total{channel="telegram"}' in metrics
    assert 'damrongtham_messages_sent_total{channel="telegram"}' in metrics
    assert "damrongtham_outbox_backlog" in metrics and "damrongtham_reminders_sent_total" in metrics
    assert "damrongtham_inbox_backlog" in metrics


def test_serving_needs_a_real_webhook_secret(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "change-me")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2 and "TELEGRAM_WEBHOOK_SECRET" in result.output


async def test_set_webhook_registers_the_url_with_the_secret(api: FakeBotApi, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", api.token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", api.base_url)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["telegram", "set-webhook", "https://desk.example.org/telegram/webhook"]
    )
    assert result.exit_code == 0, result.output
    call = (await api.wait_for_call("setWebhook")).params
    assert call["url"] == "https://desk.example.org/telegram/webhook" and call["secret_token"] == SECRET


async def test_metrics_answer_on_the_public_port_only_to_the_bearer_token(secret_key: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from aiohttp.test_utils import TestClient, TestServer

    from bot.inbox import Inbox
    from bot.web import build_web_app

    settings = Settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}", DAMRONGTHAM_SECRET_KEY=secret_key,
        DAMRONGTHAM_DATA_DIR=str(tmp_path / "data"), DAMRONGTHAM_METRICS_TOKEN="s3cret-metrics",
    )  # fmt: skip
    app = await build_app(settings)
    web_app = build_web_app(
        app.services, Inbox(app.db, app.services.vault), metrics_token=settings.metrics_token
    )
    try:
        async with TestClient(TestServer(web_app)) as client:
            assert (await client.get("/metrics")).status == 401
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer guess"})
            assert wrong.status == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
            right = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
            assert right.status == 200 and "damrongtham_up_seconds" in await right.text()
    finally:
        await app.close()
