"""The aiohttp transport carries python-telegram-bot's requests as its own httpx one would."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import Bot, InputFile
from telegram.error import NetworkError, TimedOut

from bot.channels.telegram_http import AiohttpRequest


async def _echo(request: web.Request) -> web.Response:
    if request.path.endswith("/slow"):
        await asyncio.sleep(2)
    form = await request.post()
    fields = {
        k: v if isinstance(v, str) else f"file:{v.filename}:{v.file.read().decode()}" for k, v in form.items()
    }
    return web.json_response({"ok": True, "result": {"type": request.content_type, "fields": fields}})


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/{tail:.*}", _echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/bot"
    await runner.cleanup()


def _bot(base_url: str, request: AiohttpRequest) -> Bot:
    return Bot("1:x", base_url=base_url, request=request)


async def test_fields_and_files_are_sent_as_python_telegram_bot_sends_them(server: str) -> None:
    async with AiohttpRequest() as request:
        bot = _bot(server, request)
        payload = await bot.do_api_request("echo", api_kwargs={"chat_id": 42, "text": "สวัสดี"})
        assert payload["type"] == "application/x-www-form-urlencoded"
        assert payload["fields"] == {"chat_id": "42", "text": "สวัสดี"}

        upload = {"chat_id": 42, "photo": InputFile(b"png-bytes", filename="chart.png")}
        payload = await bot.do_api_request("echo", api_kwargs=upload)
        assert payload["type"] == "multipart/form-data"
        assert payload["fields"]["chat_id"] == "42"
        assert any(v == "file:chart.png:png-bytes" for v in payload["fields"].values())


async def test_time_outs_and_refused_connections_are_python_telegram_bots_errors(server: str) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/bot"
    async with AiohttpRequest(read_timeout=0.2) as request:
        with pytest.raises(TimedOut):
            await _bot(server, request).do_api_request("slow", api_kwargs={"chat_id": 1})
        with pytest.raises(NetworkError):
            await _bot(closed, request).do_api_request("echo", api_kwargs={"chat_id": 1})
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(server, "POST", None)


async def test_the_proxy_from_the_environment_is_used(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As python-telegram-bot's httpx request does: an office behind a proxy still reaches Telegram,
    with the proxy's credentials, and NO_PROXY's hosts are reached directly."""
    seen: list[tuple[str, str | None]] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append((str(request.url), request.headers.get("Proxy-Authorization")))
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setenv("HTTP_PROXY", f"http://office:s3cret@127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        async with AiohttpRequest() as request:
            for _ in range(2):
                answer = await _bot("http://api.telegram.invalid/bot", request).do_api_request(
                    "ping", api_kwargs={"a": 1}
                )
                assert answer is True
            direct = await _bot(server, request).do_api_request("echo", api_kwargs={"b": 2})
        assert seen == [("http://api.telegram.invalid/bot1:x/ping", "Basic b2ZmaWNlOnMzY3JldA==")] * 2
        assert direct["fields"] == {"b": "2"}
    finally:
        await runner.cleanup()
