"""Proves FakeBotApi speaks the Bot API well enough for the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import datetime as dtm
import io
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonCommands,
    Update,
)
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.fake_bot_api import FakeBotApi, SendingLimits, UploadedFile

pytestmark = pytest.mark.asyncio

CHAT = 42


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


def make_bot(api: FakeBotApi, token: str | None = None) -> Bot:
    return Bot(token or api.token, base_url=api.base_url, base_file_url=api.base_file_url)


def build_app(api: FakeBotApi) -> Application:  # type: ignore[type-arg]
    return (
        ApplicationBuilder()
        .token(api.token)
        .base_url(f"{api.url}/bot")
        .base_file_url(f"{api.url}/file/bot")
        .build()
    )


async def start_polling(app: Application) -> None:  # type: ignore[type-arg]
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1)


async def stop_polling(app: Application) -> None:  # type: ignore[type-arg]
    assert app.updater is not None
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


async def test_bot_methods_round_trip(api: FakeBotApi) -> None:
    async with make_bot(api) as bot:
        me = await bot.get_me()
        assert (me.id, me.username, me.is_bot) == (123456, "damrongtham_test_bot", True)

        keyboard = InlineKeyboardMarkup(
            [
                [InlineKeyboardButton("ร้องเรียน", callback_data="menu:complaint")],
                [InlineKeyboardButton("เว็บไซต์", url="https://example.org")],
            ]
        )
        msg = await bot.send_message(CHAT, "สวัสดี <b>ครับ</b>", parse_mode="HTML", reply_markup=keyboard)
        assert msg.text == "สวัสดี ครับ"  # rendered like Telegram does
        assert msg.chat.id == CHAT and msg.chat.type == "private"
        assert msg.from_user is not None and msg.from_user.id == 123456
        assert msg.reply_markup == keyboard
        [sent] = api.messages_to(CHAT)
        assert sent.method == "sendMessage" and sent.message_id == msg.message_id
        assert sent.text == "สวัสดี <b>ครับ</b>"
        assert sent.reply_markup == keyboard.to_dict()
        assert sent.callback_datas == ["menu:complaint"]
        # Form values were decoded back to their JSON types.
        assert api.calls_to("sendMessage")[0].params["chat_id"] == CHAT

        photo = await bot.send_photo(CHAT, "photo1", caption="หลักฐาน")
        assert photo.photo[-1].file_id == "photo1" and photo.caption == "หลักฐาน"
        assert photo.message_id == msg.message_id + 1

        location = await bot.send_location(CHAT, latitude=18.7883, longitude=98.9853)
        assert location.location is not None and location.location.latitude == 18.7883
        assert [m.method for m in api.sent] == ["sendMessage", "sendPhoto", "sendLocation"]

        # Press the button, read the callback query through getUpdates, answer it.
        update_id = api.press(CHAT, "menu:complaint")
        [update] = await bot.get_updates(timeout=0)
        assert update.update_id == update_id
        query = update.callback_query
        assert query is not None and query.data == "menu:complaint"
        assert query.message is not None and query.message.message_id == msg.message_id
        assert await bot.answer_callback_query(query.id, text="รับเรื่องแล้ว")

        edited = await bot.edit_message_text("แก้ไขแล้ว", chat_id=CHAT, message_id=msg.message_id)
        assert isinstance(edited, type(msg)) and edited.text == "แก้ไขแล้ว"
        assert edited.reply_markup is None  # editing without reply_markup drops the keyboard
        assert api.edits[-1].text == "แก้ไขแล้ว" and api.edits[-1].message_id == msg.message_id
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await bot.edit_message_text("แก้ไขแล้ว", chat_id=CHAT, message_id=msg.message_id)

        commands = [BotCommand("start", "เริ่มต้น"), BotCommand("report", "แจ้งเรื่อง")]
        assert await bot.set_my_commands(commands, language_code="th")
        assert await bot.get_my_commands(language_code="th") == tuple(commands)
        assert await bot.get_my_commands() == ()
        assert [c["command"] for c in api.get_commands("th")] == ["start", "report"]
        assert await bot.set_chat_menu_button(menu_button=MenuButtonCommands())

        api.add_file("doc-bytes", b"%PDF-1.4 evidence")
        tg_file = await bot.get_file("doc-bytes")
        assert tg_file.file_path == f"{api.url}/file/bot{api.token}/files/doc-bytes"
        assert bytes(await tg_file.download_as_bytearray()) == b"%PDF-1.4 evidence"

        # Uploads arrive as multipart and become downloadable files.
        uploaded = await bot.send_document(CHAT, b"scan-bytes", filename="scan.pdf")
        assert uploaded.document is not None and uploaded.document.file_name == "scan.pdf"
        assert isinstance(api.sent[-1].params["document"], UploadedFile)
        again = await bot.get_file(uploaded.document.file_id)
        assert bytes(await again.download_as_bytearray()) == b"scan-bytes"
        photo_upload = await bot.send_photo(CHAT, io.BytesIO(b"\x89PNG fake"))
        assert await (await photo_upload.photo[-1].get_file()).download_as_bytearray()


async def test_validation_errors_match_telegram(api: FakeBotApi) -> None:
    async with make_bot(api) as bot:
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(CHAT, "ราคา <5 บาท", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)reserved"):
            await bot.send_message(CHAT, "ขอบคุณ.", parse_mode="MarkdownV2")
        too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="ก" * 22)]])
        with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
            await bot.send_message(CHAT, "เลือก", reply_markup=too_long)
        with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
            await bot.send_message(CHAT, " ")
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("definitelyNotAMethod")
        assert api.sent == []
    with pytest.raises(InvalidToken):
        async with make_bot(api, token="999:WRONG"):
            pass


async def test_get_updates_long_poll_and_offset(api: FakeBotApi) -> None:
    async with make_bot(api) as bot:
        started = time.monotonic()
        assert await bot.get_updates(timeout=dtm.timedelta(seconds=0.3)) == ()
        assert time.monotonic() - started >= 0.25

        # A long poll returns as soon as an update arrives.
        asyncio.get_running_loop().call_later(0.2, api.send_text, CHAT, "/start payload")
        started = time.monotonic()
        [update] = await bot.get_updates(timeout=5)
        assert time.monotonic() - started < 2
        assert update.message is not None and update.message.text == "/start payload"
        entities = update.message.entities
        assert entities and entities[0].type == "bot_command" and entities[0].length == 6

        # Unconfirmed updates are redelivered; offset confirms them.
        assert [u.update_id for u in await bot.get_updates()] == [update.update_id]
        ids = [api.send_location(CHAT, 18.79, 98.98), api.send_contact(CHAT, "+66812345678")]
        got = await bot.get_updates(offset=update.update_id + 1, limit=1)
        assert [u.update_id for u in got] == ids[:1]
        got = await bot.get_updates(offset=ids[0] + 1)
        assert [u.update_id for u in got] == ids[1:]
        contact = got[0].message.contact if got[0].message else None
        assert contact is not None and contact.user_id == CHAT
        assert await bot.get_updates(offset=ids[1] + 1) == ()

        for push in (api.send_sticker, api.send_voice, api.send_document):
            push(CHAT)
        kinds = await bot.get_updates()
        assert kinds[0].message and kinds[0].message.sticker
        assert kinds[1].message and kinds[1].message.voice
        assert kinds[2].message and kinds[2].message.document
        assert kinds[2].message.document.file_name == "evidence.pdf"


async def test_application_polling_end_to_end(api: FakeBotApi) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("ไทย", callback_data="lang:th")]])
        await update.message.reply_text("ยินดีต้อนรับ", reply_markup=keyboard)

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(f"เลือก {query.data}")

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        photo = update.message.photo[-1]
        data = await (await photo.get_file()).download_as_bytearray()
        await update.message.reply_text(f"ได้รับรูป {photo.file_id} {len(data)} bytes")

    app = build_app(api)
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    await start_polling(app)
    try:
        api.send_text(CHAT, "/start")
        [welcome] = await api.wait_for_messages(CHAT, 1, timeout=5)
        assert welcome.text == "ยินดีต้อนรับ" and welcome.callback_datas == ["lang:th"]

        api.press(CHAT, "lang:th")
        await api.wait_for_call("answerCallbackQuery", timeout=5)
        edit = await api.wait_for_call("editMessageText", timeout=5)
        assert edit.params["message_id"] == welcome.message_id
        assert api.edits[-1].text == "เลือก lang:th"

        api.add_file("photo1", b"jpeg-bytes")
        api.send_photo(CHAT, caption="หลักฐาน")
        messages = await api.wait_for_messages(CHAT, 2, timeout=5)
        assert messages[-1].text == "ได้รับรูป photo1 10 bytes"
        await api.wait_idle(quiet=0.1, timeout=5)
    finally:
        await stop_polling(app)
    assert api.server_errors == []


# PTB 22's own RetryAfter.__init__ emits a PTBDeprecationWarning (int vs timedelta).
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_injected_429_raises_retry_after(api: FakeBotApi) -> None:
    async with make_bot(api) as bot:
        api.fail_next("sendMessage", 1, error_code=429, retry_after=3)
        with pytest.raises(RetryAfter, match="3"):
            await bot.send_message(CHAT, "ช้าหน่อย")
        assert api.sent == []  # rejected calls are recorded as calls, not as sent messages
        assert len(api.calls_to("sendMessage")) == 1

        api.fail_next("SENDMESSAGE", 1, error_code=502)
        with pytest.raises(NetworkError):
            await bot.send_message(CHAT, "ลองอีกครั้ง")
        await bot.send_message(CHAT, "สำเร็จ")
        assert [m.text for m in api.sent] == ["สำเร็จ"]

        # A delayed call times out client-side but is still executed, like on Telegram.
        api.delay_next("sendMessage", 1, 0.5)
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "ช้า", read_timeout=0.1)
        messages = await api.wait_for_messages(CHAT, 2, timeout=3)
        assert messages[-1].text == "ช้า"


async def test_sending_limits_allow_a_private_burst_and_refuse_a_stream() -> None:
    limits = SendingLimits(overall=(30, 1.0), group=(3, 60.0), private_burst=4, private_per_second=1.0)
    async with FakeBotApi(limits=limits) as api, make_bot(api) as bot:
        for n in range(4):  # a person's quick actions, each answered at once
            await bot.send_message(CHAT, f"คำตอบ {n}")
        with pytest.raises(RetryAfter):
            await bot.send_message(CHAT, "เกินไป")
        await asyncio.sleep(1.05)  # a message's worth of the bucket has refilled
        await bot.send_message(CHAT, "ได้อีกหนึ่ง")
        for n in range(3):  # a group: 3 a minute here
            await bot.send_message(-100, f"การ์ด {n}")
        with pytest.raises(RetryAfter):
            await bot.send_message(-100, "การ์ดที่สี่")
        await bot.send_message(CHAT + 1, "another private chat has its own bucket")
        assert len(api.too_many) == 2 and len(api.sent) == 9


async def test_duplicate_delivery_with_push_raw(api: FakeBotApi) -> None:
    async with make_bot(api) as bot:
        update_id = api.send_text(CHAT, "ซ้ำ")
        [first] = await bot.get_updates(timeout=0)
        assert await bot.get_updates(offset=update_id + 1) == ()
        assert api.push_raw(first.to_dict()) == update_id
        [again] = await bot.get_updates(offset=update_id + 1)
        assert again.update_id == update_id and again.message is not None
        assert again.message.text == "ซ้ำ"
        assert await bot.get_updates(offset=update_id + 1) == ()

    # The same through an Application: the handler sees the update_id twice.
    seen: list[Update] = []

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"got {update.update_id}")

    app = build_app(api)
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await start_polling(app)
    try:
        duplicate = api.send_text(CHAT, "เรื่องเดิม")
        await api.wait_for_messages(CHAT, 1, timeout=5)
        api.push_raw(seen[0].to_dict())  # Telegram re-sends an already confirmed update
        await api.wait_for_messages(CHAT, 2, timeout=5)
    finally:
        await stop_polling(app)
    assert [u.update_id for u in seen] == [duplicate, duplicate]


async def test_raw_http_json_query_and_errors(api: FakeBotApi) -> None:
    # Other clients send JSON bodies or GET query strings; method names are case-insensitive.
    async with aiohttp.ClientSession() as http:
        base = f"{api.url}/bot{api.token}"
        markup = {"inline_keyboard": [[{"text": "ok", "callback_data": "ok"}]]}
        async with http.post(
            f"{base}/SENDMESSAGE", json={"chat_id": 7, "text": "123", "reply_markup": markup}
        ) as resp:
            body = await resp.json()
        assert body["ok"] and body["result"]["text"] == "123"
        assert api.sent[-1].reply_markup == markup and api.sent[-1].method == "sendMessage"
        async with http.get(f"{base}/getme") as resp:
            assert (await resp.json())["result"]["username"] == "damrongtham_test_bot"
        async with http.get(f"{base}/sendChatAction?chat_id=7&action=typing") as resp:
            assert (await resp.json()) == {"ok": True, "result": True}
        async with http.post(f"{api.url}/bot1:WRONG/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        async with http.post(f"{base}/noSuchMethod") as resp:
            assert resp.status == 404
            assert (await resp.json())["description"] == "Not Found: method not found"
        async with http.post(f"{base}/setWebhook", data={"url": "https://example.org/hook"}):
            pass
        async with http.post(f"{base}/getUpdates") as resp:
            assert resp.status == 409
    with pytest.raises(AssertionError, match="sent messages"):
        await api.wait_for_messages(7, 5, timeout=0.1)


async def test_a_set_webhook_gets_each_update_posted_with_the_secret_and_a_failed_one_again(
    api: FakeBotApi,
) -> None:
    received: list[tuple[int, str]] = []
    refused: set[int] = set()

    async def webhook(request: web.Request) -> web.Response:
        update = await request.json()
        if update["update_id"] not in refused:  # the first delivery of each fails, as a dying server's
            refused.add(update["update_id"])
            return web.Response(status=500)
        received.append((update["update_id"], request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", webhook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with make_bot(api) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
            first = api.send_text(CHAT, "one")
            second = api.send_text(CHAT, "two")
            for _ in range(50):
                if len(received) == 2:
                    break
                await asyncio.sleep(0.1)
            with pytest.raises(Exception, match="webhook is active"):
                await bot.get_updates()
            await bot.delete_webhook()
    finally:
        await runner.cleanup()
    assert sorted(received) == [(first, "s3cret"), (second, "s3cret")]
    assert (api.webhook_delivered, api.webhook_failed) == (2, 2)
