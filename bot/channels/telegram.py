"""Telegram adapter (python-telegram-bot 22): updates in, outbox messages out. Translation only."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.channels.base import ChatMoved, PermanentFailure, RetryLater
from bot.channels.telegram_http import AiohttpRequest
from bot.throttle import Throttle
from handlers.engine import Engine
from kernel.i18n import LANGUAGES, t
from kernel.messages import Button, FileRef, Incoming, Media, Reply, cut_units, held_sha
from storage.files import FileStore

log = logging.getLogger(__name__)
CHANNEL = "telegram"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
COMMANDS = ("start", "status", "cancel", "help", "lang", "privacy", "mydata")
STAFF_COMMANDS = ("cases", "case", "progress", "summary", "bind")
# getFile serves files up to 20 MB; a larger one the conversation refuses anyway
MAX_DOWNLOAD = 20 * 1024 * 1024
UNSUPPORTED = ("sticker", "animation", "poll", "dice", "game")


def to_incoming(update: Update, bot_id: int) -> Incoming | None:
    """The channel-neutral event for an update, or None for kinds we ignore (edits, joins)."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return None
    common = {
        "channel": CHANNEL,
        "chat_id": str(chat.id),
        "user_id": str(user.id),
        "chat_type": "private" if chat.type == "private" else "group",
        # update ids are per bot and restart at random after a quiet week: key them by bot too
        "update_key": f"{bot_id}:{update.update_id}",
        "language_code": user.language_code,
        "user_name": user.full_name,
    }
    if update.callback_query is not None:
        return Incoming(**common, payload=update.callback_query.data or "")  # type: ignore[arg-type]
    msg = update.message
    if msg is None:
        return None
    return Incoming(**common, **_message_content(msg))  # type: ignore[arg-type]


def lane(update: dict[str, Any]) -> str:
    """The chat an update (as Telegram sends it) belongs to: the inbox keeps each chat's order."""
    for kind, value in update.items():
        if not isinstance(value, dict):
            continue
        chat = value.get("chat") or (value.get("message") or {}).get("chat")
        if isinstance(chat, dict) and "id" in chat:
            return str(chat["id"])
        user = value.get("from") or value.get("user")
        if isinstance(user, dict) and "id" in user:
            return str(user["id"])  # a private chat's id is its user's
        return kind
    return ""


def _message_content(msg: Message) -> dict[str, object]:
    if msg.text is not None:
        return {"text": msg.text}
    if msg.photo:
        p = msg.photo[-1]  # the largest size
        ref = FileRef("photo", p.file_id, p.file_unique_id, None, "image/jpeg", p.file_size)
        return {"file": ref, "caption": msg.caption}
    if msg.document is not None:
        d = msg.document
        ref = FileRef("document", d.file_id, d.file_unique_id, d.file_name, d.mime_type, d.file_size)
        return {"file": ref, "caption": msg.caption}
    sound = msg.voice or msg.audio
    if sound is not None:  # a voice note, or a recording sent as a file
        name = msg.audio.file_name if msg.audio is not None else None
        ref = FileRef("voice", sound.file_id, sound.file_unique_id, name, sound.mime_type, sound.file_size)
        return {"file": ref, "caption": msg.caption}
    if msg.video is not None:
        v = msg.video
        ref = FileRef("video", v.file_id, v.file_unique_id, v.file_name, v.mime_type, v.file_size)
        return {"file": ref, "caption": msg.caption}
    if msg.video_note is not None:  # a round video: no name, no type
        n = msg.video_note
        return {"file": FileRef("video", n.file_id, n.file_unique_id, None, "video/mp4", n.file_size)}
    if msg.location is not None:
        return {"location": (msg.location.latitude, msg.location.longitude)}
    if msg.contact is not None:
        own = (
            msg.contact.user_id is not None
            and msg.from_user is not None
            and msg.contact.user_id == msg.from_user.id
        )
        return {"contact_phone": msg.contact.phone_number, "contact_is_own": own}
    for kind in UNSUPPORTED:
        if getattr(msg, kind, None):
            return {"unsupported": kind}
    return {"unsupported": "other"}


Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ForceReply | ReplyKeyboardRemove


def render_markup(reply: Reply) -> Markup | None:
    """The keyboard (or keyboard change) that goes with a reply."""
    if reply.buttons:
        flat = [b for row in reply.buttons for b in row]
        if all(b.kind == "payload" for b in flat):
            return InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton(b.label, callback_data=b.payload) for b in row]
                    for row in reply.buttons
                ]
            )
        # Sharing a location or contact needs a reply keyboard; its other buttons send their label.
        return ReplyKeyboardMarkup(
            [[_keyboard_button(b) for b in row] for row in reply.buttons],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    if reply.force_reply:
        return ForceReply(selective=False)
    if reply.remove_keyboard:
        return ReplyKeyboardRemove()
    return None


def _keyboard_button(button: Button) -> KeyboardButton:
    return KeyboardButton(
        button.label,
        request_location=button.kind == "location" or None,
        request_contact=button.kind == "contact" or None,
    )


class TelegramSender:
    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        throttle: Throttle | None = None,
        held: Callable[[str], Awaitable[bytes | None]] | None = None,
    ) -> None:
        self.application = application
        self.throttle = throttle or Throttle()
        # files we hold ourselves (fetched from LINE, by their hash) are uploaded; Telegram's own
        # are sent by id
        self.held = held

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        bot = self.application.bot
        # An answer to a person's own action in their private chat goes at once: Telegram allows a
        # private chat short bursts, and a held answer looks like "nothing happened". Pushed
        # messages (updates, reminders) and anything to a group keep the chat's pace; a 429 is
        # honoured either way. The answer still counts in the chat's window, so pushes after it wait.
        paced = not reply.answering or chat_id.startswith("-")
        while True:
            chat_wait = self.throttle.chat_wait(chat_id) if paced else 0.0
            if chat_wait > 0:
                raise RetryLater(chat_wait, ours=True)  # this chat waits in the outbox; others go on
            overall = self.throttle.overall_wait()
            if overall <= 0:
                break
            # the window has room again once its oldest send ages out; then both are asked again,
            # as sends beside this one may have taken the room meanwhile
            await asyncio.sleep(overall)
        self.throttle.begin(chat_id)
        try:
            media = reply.media
            if reply.edit_message_id is not None:
                return await self._edit(chat_id, reply)
            if media is None:
                # the outbox already cut long texts into pieces (storage/outbox.py)
                message = await bot.send_message(
                    chat_id, cut_units(reply.text, TEXT_LIMIT), reply_markup=render_markup(reply)
                )
            elif media.kind == "location":
                message = await bot.send_location(chat_id, latitude=media.latitude, longitude=media.longitude)
            else:
                message = await self._send_file(chat_id, media)
            return str(message.message_id)
        except ChatMigrated as exc:
            raise ChatMoved(str(exc.new_chat_id)) from exc
        except RetryAfter as exc:
            wait = exc.retry_after
            raise RetryLater(wait.total_seconds() if isinstance(wait, timedelta) else float(wait)) from exc
        except (Forbidden, BadRequest) as exc:
            raise PermanentFailure(exc.message) from exc
        finally:
            # counted when the request is done, not when it was decided: Telegram's window sees
            # the arrival, and a margin of one round trip keeps us inside it
            self.throttle.record(chat_id)

    async def _send_file(self, chat_id: str, media: Media) -> Message:
        bot, file = self.application.bot, await self._file(media)
        caption = cut_units(media.caption or "", CAPTION_LIMIT) or None
        send = {"photo": bot.send_photo, "voice": bot.send_voice, "video": bot.send_video}.get(
            media.kind, bot.send_document
        )
        message: Message = await send(chat_id, file, caption=caption)
        return message

    async def _file(self, media: Media) -> str | InputFile:
        if media.data_b64 is not None:
            return InputFile(base64.b64decode(media.data_b64), filename=media.file_name or "chart.png")
        file_id, sha = media.file_id or "", held_sha(media.file_id)
        if sha is not None and self.held is not None:
            data = await self.held(sha)
            if data is not None:
                return InputFile(data, filename=media.file_name or f"evidence-{sha[:8]}")
            raise PermanentFailure("stored file missing")
        if ":" in file_id:
            raise PermanentFailure("a file Telegram cannot send by id")
        return file_id

    async def _edit(self, chat_id: str, reply: Reply) -> str | None:
        markup = render_markup(reply)
        try:
            await self.application.bot.edit_message_text(
                cut_units(reply.text, TEXT_LIMIT),
                chat_id=chat_id,
                message_id=int(reply.edit_message_id or 0),
                # an edit can carry only an inline keyboard; leaving it out removes the one there
                reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
            )
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                raise
        return reply.edit_message_id


def build_application(token: str, *, base_url: str, base_file_url: str) -> Application:  # type: ignore[type-arg]
    return (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .base_file_url(base_file_url)
        # measured against PTB's default HTTPXRequest: bench/README.md, e2e_http.py
        .request(AiohttpRequest())
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
        .build()
    )


async def keep_file(bot: Bot, incoming: Incoming, files: FileStore) -> Incoming:
    """A file sent in a private chat, downloaded now and kept (encrypted) under its hash, so the
    desk can show it; Telegram's id still sends it to the groups. If the download fails the file
    is kept by its id alone: the report goes on, and staff still see it in the chat."""
    file = incoming.file
    if file is None or incoming.chat_type != "private" or (file.size or 0) > MAX_DOWNLOAD:
        return incoming
    try:
        held = await bot.get_file(file.file_id)
        data = bytes(await held.download_as_bytearray())
    except Exception:
        log.warning("could not download a Telegram file; kept by its id only", exc_info=True)
        return incoming
    sha = await asyncio.to_thread(files.put, data)
    return replace(incoming, file=replace(file, sha256=sha, size=len(data)))


def attach_engine(application: Application, engine: Engine, files: FileStore | None = None) -> None:  # type: ignore[type-arg]
    async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        outcome = None
        try:
            incoming = to_incoming(update, context.bot.id)
            if incoming is not None:
                if files is not None:
                    incoming = await keep_file(context.bot, incoming, files)
                outcome = await engine.handle(incoming)
        finally:
            # Always answer a press, or the user's button keeps spinning: after the turn, so that a
            # press handled again (another replica took the chat over before this one marked it)
            # is not answered twice; the engine says it is a duplicate.
            if update.callback_query is not None and not (outcome is not None and outcome.duplicate):
                try:
                    await update.callback_query.answer()
                except Exception:
                    log.warning("could not answer a callback query", exc_info=True)
        if outcome is not None and incoming is not None:
            for reply in outcome.undelivered:
                await application.bot.send_message(incoming.chat_id, reply.text)

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram handler error", exc_info=context.error)

    application.add_handler(TypeHandler(Update, on_update))
    application.add_error_handler(on_error)


async def register_commands(application: Application) -> None:  # type: ignore[type-arg]
    """The command menu in Thai (also the default for other languages) and English: citizens'
    commands everywhere, staff commands in group chats (where divisions work)."""
    for lang in (None, *LANGUAGES):
        commands = [BotCommand(name, t(lang or "th", f"commands.{name}")) for name in COMMANDS]
        await application.bot.set_my_commands(commands, language_code=lang)
        staff = [BotCommand(name, t(lang or "th", f"commands.{name}")) for name in STAFF_COMMANDS]
        await application.bot.set_my_commands(staff, scope=BotCommandScopeAllGroupChats(), language_code=lang)
