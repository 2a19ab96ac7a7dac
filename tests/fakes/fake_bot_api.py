"""In-process stand-in for the Telegram Bot API HTTP server, for end-to-end tests.

Tests start :class:`FakeBotApi`, point the real python-telegram-bot ``Bot``/``Application`` at it
with ``base_url=f"{api.url}/bot"`` and ``base_file_url=f"{api.url}/file/bot"``, inject updates
with the builder helpers (``send_text``, ``press``, ...) and assert on what the bot sent
(``api.sent``, ``api.edits``, ``api.calls``).

Wire format notes (python-telegram-bot 22, see ``telegram/request/_httpxrequest.py``):

* Every method is a ``POST``. Without parameters (``getMe``, ``deleteWebhook``...) the body is
  empty and there is no Content-Type header at all.
* With parameters the body is ``application/x-www-form-urlencoded`` (never JSON). String values
  are sent raw, everything else (ints, bools, lists, dicts such as ``reply_markup``) is
  ``json.dumps``-ed - so ``chat_id=5`` and ``text=123`` look identical on the wire.
* When a file is uploaded the body is ``multipart/form-data``: plain parts for the parameters
  (no Content-Type) plus one file part named after the parameter (``photo``, ``document``) or
  ``attached<hex>`` referenced by an ``attach://`` URI (InputMedia). A ``BytesIO`` without a
  name arrives with the odd filename ``application.octet-stream``.

The fake therefore decodes form values as JSON except for parameters that Telegram defines as
strings (``_STRING_PARAMS``), which must stay verbatim ("123" is a valid message text).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import html
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

JSONDict = dict[str, Any]
_Handler = Callable[[JSONDict], Awaitable[Any]]

# Telegram limits that real bots run into (Thai text is 3 bytes/char in UTF-8, so the 64-byte
# callback_data limit bites early); enforced so that tests fail like production would.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024

# Telegram only delivers these when explicitly listed in allowed_updates.
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_HTML_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)(?:\s[^<>]*)?>")
# Characters MarkdownV2 rejects unless escaped (formatting markers like * and _ are allowed).
_MDV2_RESERVED = frozenset("#+-={}.!()>")

# What Telegram marks as a bot_command entity at the start of a message.
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")

_INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)

# Parameters Telegram types as String: never JSON-decode them (text "123" must stay a str).
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "first_name",
        "last_name",
        "phone_number",
        "vcard",
        "callback_query_id",
        "inline_message_id",
        "url",
        "file_id",
        "photo",
        "document",
        "sticker",
        "voice",
        "audio",
        "video",
        "animation",
        "video_note",
        "thumbnail",
        "action",
        "language_code",
        "title",
        "address",
        "foursquare_id",
        "foursquare_type",
        "google_place_id",
        "google_place_type",
        "secret_token",
        "ip_address",
        "business_connection_id",
        "message_effect_id",
        "name",
        "description",
        "short_description",
        "emoji",
        "custom_title",
        "question",
    }
)

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (what PTB sends for ``InputFile`` uploads)."""

    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class ApiCall:
    """One Bot API request as received (method in canonical camelCase when known)."""

    method: str
    params: dict[str, Any]
    at: float


@dataclass
class SentMessage:
    """A message the bot successfully sent (sendMessage/sendPhoto/...)."""

    chat_id: int
    message_id: int
    method: str
    text: str | None
    reply_markup: dict[str, Any] | None
    params: dict[str, Any]
    # The Message object returned to the bot (as JSON).
    message: dict[str, Any] = field(default_factory=dict)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Inline keyboard buttons flattened row by row (empty for other keyboards)."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    @property
    def button_texts(self) -> list[str]:
        return [str(button.get("text")) for button in self.buttons]

    @property
    def callback_datas(self) -> list[str]:
        return [str(b["callback_data"]) for b in self.buttons if "callback_data" in b]


@dataclass
class EditedMessage:
    """A successful editMessageText/editMessageCaption/editMessageReplyMarkup call."""

    method: str
    chat_id: int | None
    message_id: int | None
    inline_message_id: str | None
    text: str | None
    reply_markup: dict[str, Any] | None
    params: dict[str, Any]
    at: float


@dataclass(frozen=True)
class SendingLimits:
    """Telegram's sending limits, as the stand-in enforces them when asked (`limits=`).

    Telegram states them loosely: about 30 messages a second in all, 20 a minute to one group, and
    to one private chat "not more than one a second; short bursts are fine". The private chat is
    modelled as a bucket of `private_burst` messages refilling at `private_per_second`: an answer at
    once to each of a person's quick actions passes, a stream of messages faster than one a second
    ends in 429. A refused call is answered as Telegram does, with `retry_after`.
    """

    overall: tuple[int, float] = (30, 1.0)
    group: tuple[int, float] = (20, 60.0)
    private_burst: float = 10.0
    private_per_second: float = 1.0


class _Limiter:
    def __init__(self, limits: SendingLimits) -> None:
        self.limits = limits
        self.overall: deque[float] = deque()
        self.groups: dict[int, deque[float]] = {}
        self.buckets: dict[int, tuple[float, float]] = {}  # chat -> (tokens, at)

    @staticmethod
    def _window_wait(events: deque[float], limit: tuple[int, float], now: float) -> float:
        count, seconds = limit
        while events and events[0] <= now - seconds:
            events.popleft()
        return 0.0 if len(events) < count else events[0] + seconds - now

    def take(self, chat_id: int, now: float) -> float:
        """0 when a message to `chat_id` may go now (and it is counted), else the seconds to wait."""
        limits = self.limits
        wait = self._window_wait(self.overall, limits.overall, now)
        if chat_id < 0:
            group = self.groups.setdefault(chat_id, deque())
            wait = max(wait, self._window_wait(group, limits.group, now))
            if wait <= 0:
                group.append(now)
        else:
            tokens, at = self.buckets.get(chat_id, (limits.private_burst, now))
            tokens = min(limits.private_burst, tokens + (now - at) * limits.private_per_second)
            if tokens < 1:
                wait = max(wait, (1 - tokens) / limits.private_per_second)
            elif wait <= 0:
                tokens -= 1
            self.buckets[chat_id] = (tokens, now)
        if wait <= 0:
            self.overall.append(now)
        return wait


# what counts as a message sent, for the limits
_LIMITED = ("send", "edit", "copymessage", "forwardmessage")


@dataclass
class _Fault:
    remaining: int
    error_code: int
    description: str
    retry_after: int | None


@dataclass
class _Delay:
    remaining: int
    seconds: float


@dataclass
class _QueuedUpdate:
    update: JSONDict
    # Raw (push_raw) updates are delivered even if their id was already confirmed.
    raw: bool
    delivered: bool = False


class _ApiError(Exception):
    """Raised by method handlers; turned into a Telegram error response."""

    def __init__(self, error_code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


def _bad_request(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


def _utf16_len(text: str) -> int:
    # Telegram measures lengths and entity offsets in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


def _unique_id(file_id: str) -> str:
    return "AQAD" + hashlib.sha1(file_id.encode()).hexdigest()[:12]


def _decode_value(name: str, value: Any) -> Any:
    """Form/JSON value -> Python value, mirroring how PTB encodes parameters."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    if not isinstance(value, str) or name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        # e.g. chat_id="@channel" or a language code: genuinely a string.
        return value


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _bad_request(f"invalid {name} specified")


def _as_float(value: Any, name: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise _bad_request(f"invalid {name} specified")


def _opt_int(params: JSONDict, name: str) -> int | None:
    value = params.get(name)
    return None if value is None else _as_int(value, name)


def _opt_str(params: JSONDict, name: str) -> str | None:
    value = params.get(name)
    return None if value is None else str(value)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _entities_error(detail: str) -> _ApiError:
    return _bad_request(f"can't parse entities: {detail}")


def _parse_html(text: str) -> str:
    """Validate Telegram-HTML like the server does; return the rendered plain text."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while True:
        lt = text.find("<", pos)
        if lt < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:lt])
        offset = len(text[:lt].encode())
        match = _HTML_TAG_RE.match(text, lt)
        if match is None:
            # A bare "<" (e.g. user input like "a<b") is rejected by Telegram.
            raise _entities_error(f'Unsupported start tag "" at byte offset {offset}')
        name = match.group(2).lower()
        if name not in _HTML_TAGS:
            raise _entities_error(f'Unsupported start tag "{name}" at byte offset {offset}')
        if match.group(1):
            if not stack:
                raise _entities_error(f"Unexpected end tag at byte offset {offset}")
            if stack[-1] != name:
                raise _entities_error(
                    f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1]}>", found "</{name}>"'
                )
            stack.pop()
        else:
            stack.append(name)
        pos = match.end()
    if stack:
        raise _entities_error(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return html.unescape("".join(out))


def _check_markdown_v2(text: str) -> None:
    """Reject unescaped reserved characters, the most common MarkdownV2 production error."""
    i = 0
    in_code = in_pre = in_url = False
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if text.startswith("```", i) and not in_code:
            in_pre = not in_pre
            i += 3
            continue
        if in_pre:
            i += 1
            continue
        if char == "`":
            in_code = not in_code
            i += 1
            continue
        if in_code:
            i += 1
            continue
        if in_url:
            in_url = char != ")"
            i += 1
            continue
        if text.startswith("](", i):
            in_url = True
            i += 2
            continue
        if char == ">" and (i == 0 or text[i - 1] == "\n"):
            # Blockquote marker at the start of a line.
            i += 1
            continue
        if char in _MDV2_RESERVED:
            raise _entities_error(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        i += 1


class FakeBotApi:
    """A local, recording Telegram Bot API server for end-to-end tests.

    Usage::

        async with FakeBotApi() as api:
            app = (ApplicationBuilder().token(api.token).base_url(f"{api.url}/bot")
                   .base_file_url(f"{api.url}/file/bot").build())
            ...
            api.send_text(42, "/start")
            [reply] = await api.wait_for_messages(42, 1)

    ``strict=True`` (default) makes the fake reject what Telegram rejects: malformed HTML /
    MarkdownV2, too long texts, callback_data over 64 bytes, editing a message to identical
    content, unknown callback query ids, replies to missing messages.
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        bot_username: str = "damrongtham_test_bot",
        bot_id: int = 123456,
        bot_first_name: str = "Damrongtham",
        host: str = "127.0.0.1",
        port: int = 0,
        strict: bool = True,
        limits: SendingLimits | None = None,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = bot_id
        self.bot_first_name = bot_first_name
        self.host = host
        self.strict = strict

        self.calls: list[ApiCall] = []
        self.sent: list[SentMessage] = []
        self.edits: list[EditedMessage] = []
        self.deleted: list[tuple[int, int]] = []
        # Unexpected exceptions inside the fake itself (answered with HTTP 500).
        self.server_errors: list[str] = []
        # calls refused with 429 by the sending limits (see `SendingLimits`)
        self.too_many: list[ApiCall] = []
        self._limiter = _Limiter(limits) if limits is not None else None

        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_connections = 40  # setWebhook's max_connections: deliveries at once
        # webhook deliveries answered 2xx, and those that failed (to be delivered again)
        self.webhook_delivered = 0
        self.webhook_failed = 0
        self.webhook_answered_at: dict[int, float] = {}  # update_id -> when its delivery got a 2xx
        self._webhook_task: asyncio.Task[None] | None = None
        # (scope as sorted JSON, language_code) -> list of BotCommand dicts.
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        # chat_id (None = default for all private chats) -> MenuButton dict.
        self.menu_buttons: dict[int | None, JSONDict] = {}
        self.files: dict[str, bytes] = {}

        self._port = port
        self._file_meta: dict[str, JSONDict] = {}
        self._queue: list[_QueuedUpdate] = []
        self._next_update_id = 1000
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        # getUpdates answered 409 because a newer one came: two pollers at once
        self.poll_conflicts = 0
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._message_counters: dict[int, int] = {}
        self._chats: dict[int, JSONDict] = {}
        self._callback_ids: set[str] = set()
        self._next_callback_id = 1
        self._upload_counter = 0
        self._blocked: set[int] = set()
        self._faults: dict[str, deque[_Fault]] = {}
        self._delays: dict[str, deque[_Delay]] = {}

        # "Generation" events: fired by replacing them, so every waiter that grabbed the old
        # one wakes up and re-checks its condition (no lost wake-ups, no shared clear()).
        self._updates_changed = asyncio.Event()
        self._activity = asyncio.Event()
        self._closing = asyncio.Event()
        self._inflight = 0
        self._last_activity = time.monotonic()

        self._runner: web.AppRunner | None = None

        handlers: dict[str, _Handler] = {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendVoice": self._send_voice,
            "sendVideo": self._send_video,
            "sendLocation": self._send_location,
            "sendContact": self._send_contact,
            "sendChatAction": self._send_chat_action,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "getFile": self._get_file,
        }
        # Telegram method names are case-insensitive.
        self._handlers: dict[str, tuple[str, _Handler]] = {
            name.lower(): (name, handler) for name, handler in handlers.items()
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        # Generous body limit: aiohttp's 1 MiB default would reject realistic photo uploads.
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_route("GET", "/file/bot{token}/{file_path:.+}", self._handle_file)
        # Short shutdown timeout: stop() wakes long polls itself, nothing should linger.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._closing = asyncio.Event()

    async def stop(self) -> None:
        if self._runner is None:
            return
        # Release pending getUpdates long polls and delays so the server can shut down fast.
        self._closing.set()
        self._fire_updates()
        if self._webhook_task is not None:
            await asyncio.gather(self._webhook_task, return_exceptions=True)
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("FakeBotApi is not started")
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        """Value for ``ApplicationBuilder().base_url(...)`` / ``Bot(base_url=...)``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @property
    def bot_user(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # ------------------------------------------------------------------ test configuration

    def add_file(
        self,
        file_id: str,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> None:
        """Make ``file_id`` resolvable by getFile and downloadable from /file/bot<token>/."""
        self.files[file_id] = data
        meta = self._file_meta.setdefault(file_id, {"file_id": file_id})
        meta["file_size"] = len(data)
        if file_name is not None:
            meta["file_name"] = file_name
        if mime_type is not None:
            meta["mime_type"] = mime_type

    def fail_next(
        self,
        method: str,
        count: int = 1,
        *,
        error_code: int = 500,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` with a Telegram error.

        Faults queue up per method, so ``fail_next(m, 1, error_code=429, retry_after=1)``
        followed by ``fail_next(m, 1, error_code=502)`` fails the next two calls differently.
        """
        if description is None:
            if error_code == 429:
                description = f"Too Many Requests: retry after {retry_after or 1}"
            elif error_code == 403:
                description = "Forbidden: bot was blocked by the user"
            elif error_code == 400:
                description = "Bad Request: injected failure"
            elif error_code == 502:
                description = "Bad Gateway"
            else:
                description = "Internal Server Error"
        if error_code == 429 and retry_after is None:
            retry_after = 1
        self._faults.setdefault(method.lower(), deque()).append(
            _Fault(count, error_code, description, retry_after)
        )

    def delay_next(self, method: str, count: int, seconds: float) -> None:
        """Hold the next ``count`` calls of ``method`` for ``seconds`` before processing.

        Like real Telegram, the call is still executed after the delay even if the client
        gave up (TimedOut) - so a "timed out" sendMessage still shows up in ``sent``.
        """
        self._delays.setdefault(method.lower(), deque()).append(_Delay(count, seconds))

    def block(self, chat_id: int) -> None:
        """Simulate the user blocking the bot: sends to this chat answer 403."""
        self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def clear_recordings(self) -> None:
        """Forget calls/sent/edits (not chats, messages or queued updates)."""
        self.calls.clear()
        self.sent.clear()
        self.edits.clear()
        self.deleted.clear()

    # ------------------------------------------------------------------ inspection helpers

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    def calls_to(self, method: str) -> list[ApiCall]:
        key = method.lower()
        return [c for c in self.calls if c.method.lower() == key]

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """Current state (after edits) of any message in the chat, bot's or user's."""
        stored = self._messages.get((chat_id, message_id))
        return copy.deepcopy(stored) if stored is not None else None

    def get_commands(self, language_code: str = "", scope: JSONDict | None = None) -> list[JSONDict]:
        return copy.deepcopy(self.commands.get(self._commands_key(scope, language_code), []))

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Queued updates not yet confirmed by the bot."""
        return [copy.deepcopy(q.update) for q in self._queue]

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109 - plain number reads better in tests
    ) -> list[SentMessage]:
        """Wait until at least ``count`` messages were sent to ``chat_id``; return all of them."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages_to(chat_id)
            if len(messages) >= count:
                return messages
            if not await self._wait_activity(deadline):
                raise AssertionError(
                    f"expected >= {count} message(s) to chat {chat_id} within {timeout}s, "
                    f"got {len(messages)}.\n{self.dump()}"
                )

    async def wait_for_call(
        self,
        method: str,
        timeout: float = 10.0,  # noqa: ASYNC109 - plain number reads better in tests
        predicate: Callable[[ApiCall], bool] | None = None,
        *,
        since: int = 0,
    ) -> ApiCall:
        """Return the first call of ``method`` (optionally matching ``predicate``).

        Already-recorded calls count; pass ``since=len(api.calls)`` to wait for a new one.
        """
        key = method.lower()
        deadline = time.monotonic() + timeout
        while True:
            for call in self.calls[since:]:
                if call.method.lower() == key and (predicate is None or predicate(call)):
                    return call
            if not await self._wait_activity(deadline):
                raise AssertionError(f"no matching {method} call within {timeout}s.\n{self.dump()}")

    async def wait_idle(
        self,
        quiet: float = 0.3,
        timeout: float = 10.0,  # noqa: ASYNC109 - plain number reads better in tests
    ) -> None:
        """Wait until no request other than getUpdates was in flight for ``quiet`` seconds.

        Useful before asserting that the bot did *not* send anything.
        """
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if self._inflight == 0 and now - self._last_activity >= quiet:
                return
            if now >= deadline:
                raise AssertionError(f"bot did not become idle within {timeout}s.\n{self.dump()}")
            await asyncio.sleep(0.05)

    def dump(self) -> str:
        """Human-readable summary of what the bot did (used in assertion messages)."""
        lines = ["sent messages:"]
        lines += [
            f"  chat={m.chat_id} #{m.message_id} {m.method}: {m.text!r}"
            + (f" buttons={m.button_texts}" if m.buttons else "")
            for m in self.sent
        ] or ["  (none)"]
        lines.append("edits:")
        lines += [f"  chat={e.chat_id} #{e.message_id} {e.method}: {e.text!r}" for e in self.edits] or [
            "  (none)"
        ]
        other = [c.method for c in self.calls if c.method != "getUpdates"]
        lines.append(f"calls (without getUpdates): {other}")
        if self.server_errors:
            lines.append(f"fake server errors: {self.server_errors}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ update injection

    def push_update(self, update: JSONDict) -> int:
        """Queue an update (assigning the next update_id unless given); returns its id."""
        upd = copy.deepcopy(update)  # callers may reuse/mutate their dict afterwards
        if "update_id" in upd:
            update_id = int(upd["update_id"])
            self._next_update_id = max(self._next_update_id, update_id + 1)
        else:
            update_id = self._next_update_id
            self._next_update_id += 1
            upd = {"update_id": update_id, **upd}
        self._queue.append(_QueuedUpdate(upd, raw=False))
        self._fire_updates()
        return update_id

    def push_raw(self, update: JSONDict) -> int:
        """Queue ``update`` verbatim, even if its update_id was already confirmed.

        Simulates Telegram re-delivering an update (e.g. after a crash before confirmation).
        """
        if "update_id" not in update:
            raise ValueError("push_raw needs an update with update_id")
        upd = copy.deepcopy(update)
        update_id = int(upd["update_id"])
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self._queue.append(_QueuedUpdate(upd, raw=True))
        self._fire_updates()
        return update_id

    def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Somchai",
        username: str | None = "somchai",
        language_code: str | None = "th",
        chat_type: str = "private",
        reply_to_message_id: int | None = None,
    ) -> int:
        """A user writes ``text``; leading ``/command`` gets a bot_command entity."""
        user = self._user_in_chat(chat_id, user_id, first_name, username, language_code, chat_type)
        content: JSONDict = {"text": text}
        match = _COMMAND_RE.match(text)
        if match is not None:
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(match.group(0))}]
        if reply_to_message_id is not None:
            replied = self._messages.get((chat_id, reply_to_message_id))
            if replied is not None:
                content["reply_to_message"] = self._strip_reply(replied)
        return self._push_message(chat_id, user, content)

    def press(
        self,
        chat_id: int,
        data: str,
        message_id: int | None = None,
        *,
        user_id: int | None = None,
        first_name: str = "Somchai",
        username: str | None = "somchai",
        language_code: str | None = "th",
        chat_type: str = "private",
        check_button: bool = True,
    ) -> int:
        """A user presses an inline button with callback ``data``.

        The callback's ``message`` is the bot message carrying the keyboard: ``message_id`` or
        else the latest bot message in the chat that (still) has an inline keyboard. With
        ``check_button`` the data must belong to one of its buttons, as a real client ensures.
        """
        if message_id is None:
            candidates = [
                msg
                for (cid, _), msg in self._messages.items()
                if cid == chat_id
                and msg["from"]["id"] == self.bot_id
                and (msg.get("reply_markup") or {}).get("inline_keyboard")
            ]
            if not candidates:
                raise AssertionError(
                    f"press({chat_id}, {data!r}): the bot sent no message with an inline "
                    f"keyboard to this chat.\n{self.dump()}"
                )
            message = max(candidates, key=lambda m: int(m["message_id"]))
        else:
            found = self._messages.get((chat_id, message_id))
            if found is None:
                raise AssertionError(f"press: no message #{message_id} in chat {chat_id}")
            message = found
        if check_button:
            rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
            datas = [b.get("callback_data") for row in rows for b in row]
            if data not in datas:
                raise AssertionError(
                    f"press: {data!r} is not a button of message #{message['message_id']} "
                    f"in chat {chat_id}; callback_data available: {datas}"
                )
        user = self._user_in_chat(chat_id, user_id, first_name, username, language_code, chat_type)
        query_id = str(4_000_000_000_000_000_000 + self._next_callback_id)
        self._next_callback_id += 1
        self._callback_ids.add(query_id)
        chat_instance = str(int(hashlib.sha1(str(chat_id).encode()).hexdigest()[:15], 16))
        return self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user,
                    "message": copy.deepcopy(message),
                    "chat_instance": chat_instance,
                    "data": data,
                }
            }
        )

    def send_photo(
        self,
        chat_id: int,
        file_id: str = "photo1",
        file_size: int = 50_000,
        caption: str | None = None,
        *,
        user_id: int | None = None,
        first_name: str = "Somchai",
        username: str | None = "somchai",
        language_code: str | None = "th",
        chat_type: str = "private",
    ) -> int:
        user = self._user_in_chat(chat_id, user_id, first_name, username, language_code, chat_type)
        self._remember_file(file_id, file_size=file_size)
        content: JSONDict = {"photo": self._photo_sizes(file_id, file_size)}
        if caption is not None:
            content["caption"] = caption
        return self._push_message(chat_id, user, content)

    def send_document(
        self,
        chat_id: int,
        file_id: str = "doc1",
        file_name: str = "evidence.pdf",
        mime_type: str = "application/pdf",
        file_size: int = 100_000,
        caption: str | None = None,
        *,
        user_id: int | None = None,
        first_name: str = "Somchai",
        username: str | None = "somchai",
        language_code: str | None = "th",
        chat_type: str = "private",
    ) -> int:
        user = self._user_in_chat(chat_id, user_id, first_name, username, language_code, chat_type)
        meta = self._remember_file(file_id, file_size=file_size, file_name=file_name, mime_type=mime_type)
        content: JSONDict = {"document": self._file_object(meta)}
        if caption is not None:
            content["caption"] = caption
        return self._push_message(chat_id, user, content)

    def send_media(
        self,
        chat_id: int,
        kind: str,
        file_id: str,
        file_size: int = 200_000,
        caption: str | None = None,
        *,
        user_id: int | None = None,
        first_name: str = "Somchai",
        username: str | None = "somchai",
        language_code: str | None = "th",
        chat_type: str = "private",
    ) -> int:
        """An audio file, a video or a round video note from a user (a voice note: `send_voice`)."""
        mime = {"audio": "audio/mpeg", "video": "video/mp4"}.get(kind)
        if kind not in ("audio", "video", "video_note"):
            raise ValueError(kind)
        user = self._user_in_chat(chat_id, user_id, first_name, username, language_code, chat_type)
        meta = self._remember_file(file_id, file_size=file_size, mime_type=mime)
        obj: JSONDict = {**self._file_object(meta), "duration": 12}
        if kind == "video":
            obj.update(width=640, height=360)
        if kind == "video_note":
            obj.pop("mime_type", None)
            obj["length"] = 240
        content: JSONDict = {kind: obj}
        if caption is not None and kind != "video_note":
            content["caption"] = caption
        return self._push_message(chat_id, user, content)

    def send_location(
        self,
        chat_id: int,
        latitude: float,
        longitude: float,
        *,
        user_id: int | None = None,
        first_name: str = "Somchai",
        username: str | None = "somchai",
        language_code: str | None = "th",
        chat_type: str = "private",
    ) -> int:
        user = self._user_in_chat(chat_id, user_id, first_name, username, language_code, chat_type)
        content: JSONDict = {"location": {"latitude": latitude, "longitude": longitude}}
        return self._push_message(chat_id, user, content)

    def send_contact(
        self,
        chat_id: int,
        phone_number: str,
        first_name: str = "Somchai",
        contact_user_id: int | None = None,
        *,
        last_name: str | None = None,
        user_id: int | None = None,
        username: str | None = "somchai",
        language_code: str | None = "th",
        chat_type: str = "private",
    ) -> int:
        """A user shares a contact; by default their own (user_id = the sender's id)."""
        user = self._user_in_chat(chat_id, user_id, first_name, username, language_code, chat_type)
        contact: JSONDict = {
            "phone_number": phone_number,
            "first_name": first_name,
            "user_id": user["id"] if contact_user_id is None else contact_user_id,
        }
        if last_name is not None:
            contact["last_name"] = last_name
        return self._push_message(chat_id, user, {"contact": contact})

    def send_sticker(
        self,
        chat_id: int,
        file_id: str = "sticker1",
        emoji: str = "👍",
        set_name: str | None = "DamrongthamTestPack",
        *,
        user_id: int | None = None,
        first_name: str = "Somchai",
        username: str | None = "somchai",
        language_code: str | None = "th",
        chat_type: str = "private",
    ) -> int:
        user = self._user_in_chat(chat_id, user_id, first_name, username, language_code, chat_type)
        self._remember_file(file_id, file_size=24_000)
        sticker: JSONDict = {
            "file_id": file_id,
            "file_unique_id": _unique_id(file_id),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": 24_000,
            "thumbnail": {
                "file_id": f"{file_id}_thumb",
                "file_unique_id": _unique_id(f"{file_id}_thumb"),
                "width": 128,
                "height": 128,
                "file_size": 4_000,
            },
        }
        if set_name is not None:
            sticker["set_name"] = set_name
        return self._push_message(chat_id, user, {"sticker": sticker})

    def send_voice(
        self,
        chat_id: int,
        file_id: str = "voice1",
        duration: int = 3,
        file_size: int = 12_000,
        *,
        user_id: int | None = None,
        first_name: str = "Somchai",
        username: str | None = "somchai",
        language_code: str | None = "th",
        chat_type: str = "private",
    ) -> int:
        user = self._user_in_chat(chat_id, user_id, first_name, username, language_code, chat_type)
        self._remember_file(file_id, file_size=file_size, mime_type="audio/ogg")
        voice: JSONDict = {
            "file_id": file_id,
            "file_unique_id": _unique_id(file_id),
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": file_size,
        }
        return self._push_message(chat_id, user, {"voice": voice})

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error_response(401, "Unauthorized")
        raw_method = request.match_info["method"]
        key = raw_method.lower()
        try:
            params = await self._read_params(request)
        except _ApiError as err:
            return self._error_response(err.error_code, err.description)
        entry = self._handlers.get(key)
        call = ApiCall(entry[0] if entry else raw_method, params, time.time())
        self.calls.append(call)
        # Long polls are background noise for wait_idle(); everything else is bot activity.
        counts_as_activity = key != "getupdates"
        if counts_as_activity:
            self._inflight += 1
            self._last_activity = time.monotonic()
        self._touch()
        try:
            await self._apply_delay(key)
            fault = self._take_fault(key)
            if fault is not None:
                parameters = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
                raise _ApiError(fault.error_code, fault.description, parameters)
            if entry is None:
                raise _ApiError(404, "Not Found: method not found")
            self._check_limits(key, params, call)
            result = await entry[1](params)
        except _ApiError as err:
            return self._error_response(err.error_code, err.description, err.parameters)
        except Exception as exc:
            # A bug in the fake must surface as an error, not as a hanging bot.
            self.server_errors.append(f"{call.method}: {exc!r}")
            return self._error_response(500, f"Internal Server Error: fake crashed: {exc!r}")
        finally:
            if counts_as_activity:
                self._inflight -= 1
                self._last_activity = time.monotonic()
            self._touch()
        return self._json({"ok": True, "result": result})

    def _check_limits(self, key: str, params: JSONDict, call: ApiCall) -> None:
        limiter = self._limiter
        if limiter is None or not key.startswith(_LIMITED) or key == "sendchataction":
            return
        try:
            chat_id = int(params.get("chat_id", 0))
        except (TypeError, ValueError):
            return  # an inline message or a channel by name: the method itself answers
        wait = limiter.take(chat_id, time.monotonic())
        if wait > 0:
            self.too_many.append(call)
            after = max(1, int(wait + 0.999))
            raise _ApiError(429, f"Too Many Requests: retry after {after}", {"retry_after": after})

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error_response(401, "Unauthorized")
        file_path = request.match_info["file_path"]
        file_id = file_path.removeprefix("files/")
        data = self.files.get(file_id)
        if data is None:
            return self._error_response(404, "Not Found")
        return web.Response(body=data, content_type="application/octet-stream")

    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = {k: _decode_value(k, v) for k, v in request.query.items()}
        if not request.body_exists:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise _bad_request("can't parse JSON body") from exc
            if not isinstance(body, dict):
                raise _bad_request("JSON body must be an object")
            for name, value in body.items():
                params[name] = _decode_value(name, value)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    params[name] = UploadedFile(name, value.filename, value.content_type, value.file.read())
                else:
                    params[name] = _decode_value(name, value)
            # Resolve attach://<name> references to the uploaded part they point to.
            for name, value in list(params.items()):
                if isinstance(value, str) and value.startswith("attach://"):
                    part = params.get(value.removeprefix("attach://"))
                    if isinstance(part, UploadedFile):
                        params[name] = part
        return params

    @staticmethod
    def _json(body: JSONDict, status: int = 200) -> web.Response:
        return web.json_response(body, status=status, dumps=lambda obj: json.dumps(obj, ensure_ascii=False))

    def _error_response(
        self, error_code: int, description: str, parameters: JSONDict | None = None
    ) -> web.Response:
        # Telegram uses the error code as HTTP status; PTB maps exceptions from both.
        body: JSONDict = {"ok": False, "error_code": error_code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return self._json(body, status=error_code)

    async def _apply_delay(self, key: str) -> None:
        delays = self._delays.get(key)
        if not delays:
            return
        delay = delays[0]
        delay.remaining -= 1
        if delay.remaining <= 0:
            delays.popleft()
        try:
            await asyncio.wait_for(self._closing.wait(), delay.seconds)
        except TimeoutError:
            pass

    def _take_fault(self, key: str) -> _Fault | None:
        faults = self._faults.get(key)
        if not faults:
            return None
        fault = faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            faults.popleft()
        return fault

    def _touch(self) -> None:
        self._activity.set()
        self._activity = asyncio.Event()

    def _fire_updates(self) -> None:
        self._updates_changed.set()
        self._updates_changed = asyncio.Event()

    async def _wait_activity(self, deadline: float) -> bool:
        """Sleep until something happens or ``deadline``; False once the deadline passed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            await asyncio.wait_for(self._activity.wait(), remaining)
        except TimeoutError:
            pass
        return True

    # ------------------------------------------------------------------ shared message logic

    def _chat(self, chat_id: int) -> JSONDict:
        known = self._chats.get(chat_id)
        if known is not None:
            return dict(known)
        if chat_id > 0:
            return {"id": chat_id, "type": "private"}
        return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}

    def _store_message(self, chat_id: int, sender: JSONDict, content: JSONDict) -> JSONDict:
        # One counter per chat shared by user and bot messages, as in real private chats.
        message_id = self._message_counters.get(chat_id, 0) + 1
        self._message_counters[chat_id] = message_id
        message: JSONDict = {
            "message_id": message_id,
            "from": sender,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            **content,
        }
        self._messages[(chat_id, message_id)] = message
        return message

    @staticmethod
    def _strip_reply(message: JSONDict) -> JSONDict:
        # Telegram does not nest reply_to_message more than one level deep.
        reply = copy.deepcopy(message)
        reply.pop("reply_to_message", None)
        return reply

    def _user_in_chat(
        self,
        chat_id: int,
        user_id: int | None,
        first_name: str,
        username: str | None,
        language_code: str | None,
        chat_type: str,
    ) -> JSONDict:
        user: JSONDict = {
            "id": chat_id if user_id is None else user_id,
            "is_bot": False,
            "first_name": first_name,
        }
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        if chat_type == "private":
            chat: JSONDict = {"id": chat_id, "type": "private", "first_name": first_name}
            if username is not None:
                chat["username"] = username
        else:
            chat = {"id": chat_id, "type": chat_type, "title": f"Test {chat_type} {chat_id}"}
        self._chats[chat_id] = chat
        return user

    def _push_message(self, chat_id: int, user: JSONDict, content: JSONDict) -> int:
        message = self._store_message(chat_id, user, content)
        return self.push_update({"message": copy.deepcopy(message)})

    def _remember_file(self, file_id: str, **meta: Any) -> JSONDict:
        known = self._file_meta.setdefault(file_id, {"file_id": file_id})
        for name, value in meta.items():
            if value is not None and name not in known:
                known[name] = value
        return known

    @staticmethod
    def _file_object(meta: JSONDict) -> JSONDict:
        obj: JSONDict = {"file_id": meta["file_id"], "file_unique_id": _unique_id(meta["file_id"])}
        for name in ("file_name", "mime_type", "file_size"):
            if meta.get(name) is not None:
                obj[name] = meta[name]
        return obj

    @staticmethod
    def _photo_sizes(file_id: str, file_size: int) -> list[JSONDict]:
        # Telegram sends several sizes, smallest first; bots usually take photo[-1].
        small_id = f"{file_id}_s"
        return [
            {
                "file_id": small_id,
                "file_unique_id": _unique_id(small_id),
                "width": 90,
                "height": 67,
                "file_size": max(1, file_size // 40),
            },
            {
                "file_id": file_id,
                "file_unique_id": _unique_id(file_id),
                "width": 1280,
                "height": 960,
                "file_size": file_size,
            },
        ]

    def _chat_id(self, params: JSONDict) -> int:
        value = params.get("chat_id")
        if value is None or value == "":
            raise _bad_request("chat_id is empty")
        if isinstance(value, str) and value.startswith("@"):
            raise _bad_request("chat not found")
        chat_id = _as_int(value, "chat_id")
        if chat_id in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _render(self, text: str, parse_mode: Any) -> str:
        """Apply parse_mode validation; return the text as the recipient would see it."""
        mode = str(parse_mode or "").lower()
        if not self.strict or not mode:
            return text
        if mode == "html":
            return _parse_html(text)
        if mode == "markdownv2":
            _check_markdown_v2(text)  # rendering is not emulated: the raw text is echoed
        return text

    def _reply_markup(self, params: JSONDict) -> JSONDict | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if isinstance(markup, str):
            try:
                markup = json.loads(markup)
            except ValueError:
                markup = None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if self.strict and "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _bad_request(
                    'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
                )
            for row in rows:
                for button in row:
                    self._check_inline_button(button)
        return markup

    @staticmethod
    def _check_inline_button(button: Any) -> None:
        if not isinstance(button, dict) or not str(button.get("text") or ""):
            raise _bad_request("can't parse inline keyboard button: Text must be non-empty")
        if not any(action in button for action in _INLINE_BUTTON_ACTIONS):
            raise _bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
            )
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
            raise _bad_request("BUTTON_DATA_INVALID")
        url = button.get("url")
        if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
            raise _bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")

    def _caption(self, params: JSONDict) -> str | None:
        caption = params.get("caption")
        if caption is None:
            return None
        rendered = self._render(str(caption), params.get("parse_mode"))
        if self.strict and _utf16_len(rendered) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        return rendered

    def _resolve_input_file(self, value: Any, kind: str, **defaults: Any) -> JSONDict:
        """file_id / URL / upload -> file metadata, registering uploads for download."""
        if isinstance(value, UploadedFile):
            self._upload_counter += 1
            file_id = f"{kind}-upload-{self._upload_counter}"
            self.add_file(file_id, value.data)
            return self._remember_file(
                file_id,
                file_name=value.filename or defaults.get("file_name"),
                mime_type=value.content_type or defaults.get("mime_type"),
            )
        if not isinstance(value, str) or not value:
            raise _bad_request(f"there is no {kind} in the request")
        if value.startswith(("http://", "https://")):
            # Telegram downloads URLs itself and assigns a new file_id.
            self._upload_counter += 1
            name = value.rsplit("/", 1)[-1] or None
            return self._remember_file(
                f"{kind}-url-{self._upload_counter}",
                file_name=name or defaults.get("file_name"),
                mime_type=defaults.get("mime_type"),
            )
        # Unknown file_ids are accepted: the fake cannot know what production considers valid.
        return self._remember_file(value, **defaults)

    async def _send(self, method: str, params: JSONDict, content: JSONDict) -> JSONDict:
        chat_id = self._chat_id(params)
        markup = self._reply_markup(params)
        full: JSONDict = dict(content)
        reply_to = _opt_int(params, "reply_to_message_id")
        reply_parameters = params.get("reply_parameters")
        if reply_to is None and isinstance(reply_parameters, dict):
            reply_to = _opt_int(reply_parameters, "message_id")
        if reply_to is not None:
            replied = self._messages.get((chat_id, reply_to))
            allow_missing = _truthy(params.get("allow_sending_without_reply")) or (
                isinstance(reply_parameters, dict)
                and _truthy(reply_parameters.get("allow_sending_without_reply"))
            )
            if replied is not None:
                full["reply_to_message"] = self._strip_reply(replied)
            elif self.strict and not allow_missing:
                raise _bad_request("message to be replied not found")
        # Message objects only ever carry inline keyboards; reply keyboards are not echoed.
        if markup is not None and "inline_keyboard" in markup:
            full["reply_markup"] = markup
        message = self._store_message(chat_id, self.bot_user, full)
        # Recorded as the bot sent it (before HTML rendering), which is what tests assert on.
        raw_text = params.get("text", params.get("caption"))
        self.sent.append(
            SentMessage(
                chat_id=chat_id,
                message_id=int(message["message_id"]),
                method=method,
                text=None if raw_text is None else str(raw_text),
                reply_markup=copy.deepcopy(markup),
                params=params,
                message=copy.deepcopy(message),
            )
        )
        self._touch()
        return copy.deepcopy(message)

    # ------------------------------------------------------------------ method handlers

    async def _true(self, params: JSONDict) -> bool:
        return True

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _delete_webhook(self, params: JSONDict) -> bool:
        if _truthy(params.get("drop_pending_updates")):
            self._queue.clear()
        self.webhook_url = ""
        self._fire_updates()  # the delivery loop ends
        return True

    async def _set_webhook(self, params: JSONDict) -> bool:
        self.webhook_url = str(params.get("url") or "")
        self.webhook_secret = str(params.get("secret_token") or "")
        self.webhook_connections = _opt_int(params, "max_connections") or 40
        if _truthy(params.get("drop_pending_updates")):
            self._queue.clear()
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
        self._fire_updates()  # a pending getUpdates must now fail with 409
        if self.webhook_url and (self._webhook_task is None or self._webhook_task.done()):
            self._webhook_task = asyncio.create_task(self._deliver_webhooks(), name="fake webhook")
        return True

    async def _deliver_webhooks(self) -> None:
        """POST queued updates to the webhook as Telegram does: each as a JSON body with the secret
        token header, up to `webhook_connections` at once; an update answered with anything but
        2xx (or not at all) is delivered again a second later. Until the webhook is deleted."""
        import aiohttp

        in_flight: set[int] = set()
        slots = asyncio.Semaphore(self.webhook_connections)
        timeout = aiohttp.ClientTimeout(total=60)

        async def deliver(http: aiohttp.ClientSession, queued: _QueuedUpdate) -> None:
            update_id = int(queued.update["update_id"])
            headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret} if self.webhook_secret else {}
            ok = False
            try:
                async with slots, http.post(self.webhook_url, json=queued.update, headers=headers) as answer:
                    await answer.read()
                    ok = 200 <= answer.status < 300
            except (aiohttp.ClientError, TimeoutError):
                pass
            if ok:
                self.webhook_delivered += 1
                self.webhook_answered_at[update_id] = time.monotonic()
                self._queue = [q for q in self._queue if q is not queued]
            else:
                self.webhook_failed += 1
                await asyncio.sleep(1.0)
            in_flight.discard(update_id)
            self._fire_updates()

        async with aiohttp.ClientSession(timeout=timeout) as http:
            tasks: set[asyncio.Task[None]] = set()
            while self.webhook_url and not self._closing.is_set():
                changed = self._updates_changed
                for queued in self._deliverable(len(self._queue)):
                    update_id = int(queued.update["update_id"])
                    if update_id not in in_flight:
                        in_flight.add(update_id)
                        task = asyncio.create_task(deliver(http, queued))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                await changed.wait()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook_url and self._allowed_updates:
            info["allowed_updates"] = list(self._allowed_updates)
        return info

    def _confirm(self, offset: int | None) -> None:
        if offset is None:
            return
        if offset < 0:
            # Negative offset: keep only the last -offset updates, forget the rest.
            del self._queue[: max(0, len(self._queue) + offset)]
            return
        self._queue = [
            q for q in self._queue if not (int(q.update["update_id"]) < offset and (not q.raw or q.delivered))
        ]

    def _deliverable(self, limit: int) -> list[_QueuedUpdate]:
        def allowed(q: _QueuedUpdate) -> bool:
            kind = next((k for k in q.update if k != "update_id"), "")
            if self._allowed_updates:
                return kind in self._allowed_updates
            return kind not in _DEFAULT_EXCLUDED_UPDATES

        # Telegram never stores updates the bot did not subscribe to.
        self._queue = [q for q in self._queue if allowed(q)]
        return self._queue[:limit]

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = _opt_int(params, "offset")
        limit = min(100, max(1, _opt_int(params, "limit") or 100))
        timeout = max(0.0, _as_float(params.get("timeout", 0), "timeout"))
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
        # A newer getUpdates terminates an older pending one, like Telegram (two instances).
        self._poll_generation += 1
        generation = self._poll_generation
        self._fire_updates()
        self._confirm(offset)
        deadline = time.monotonic() + timeout
        while True:
            if generation != self._poll_generation:
                self.poll_conflicts += 1
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            batch = self._deliverable(limit)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._closing.is_set() or self.webhook_url:
                break
            try:
                await asyncio.wait_for(self._updates_changed.wait(), remaining)
            except TimeoutError:
                pass
        for queued in batch:
            queued.delivered = True
        return [copy.deepcopy(q.update) for q in batch]

    async def _send_message(self, params: JSONDict) -> JSONDict:
        raw = params.get("text")
        text = "" if raw is None else str(raw)
        if not text.strip():
            raise _bad_request("message text is empty")
        rendered = self._render(text, params.get("parse_mode"))
        if not rendered.strip():
            raise _bad_request("message text is empty")
        if self.strict and _utf16_len(rendered) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        content: JSONDict = {"text": rendered}
        if isinstance(params.get("entities"), list):
            content["entities"] = params["entities"]
        return await self._send("sendMessage", params, content)

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        self._chat_id(params)  # validate before registering uploads
        meta = self._resolve_input_file(params.get("photo"), "photo")
        content: JSONDict = {
            "photo": self._photo_sizes(str(meta["file_id"]), int(meta.get("file_size") or 50_000))
        }
        caption = self._caption(params)
        if caption is not None:
            content["caption"] = caption
        return await self._send("sendPhoto", params, content)

    async def _send_document(self, params: JSONDict) -> JSONDict:
        self._chat_id(params)
        meta = self._resolve_input_file(
            params.get("document"),
            "document",
            file_name="document",
            mime_type="application/octet-stream",
        )
        content: JSONDict = {"document": self._file_object(meta)}
        caption = self._caption(params)
        if caption is not None:
            content["caption"] = caption
        return await self._send("sendDocument", params, content)

    async def _send_voice(self, params: JSONDict) -> JSONDict:
        return await self._send_recording("sendVoice", "voice", params, mime_type="audio/ogg")

    async def _send_video(self, params: JSONDict) -> JSONDict:
        return await self._send_recording("sendVideo", "video", params, mime_type="video/mp4")

    async def _send_recording(self, method: str, kind: str, params: JSONDict, *, mime_type: str) -> JSONDict:
        self._chat_id(params)
        meta = self._resolve_input_file(params.get(kind), kind, mime_type=mime_type)
        content: JSONDict = {kind: {**self._file_object(meta), "duration": 12}}
        if kind == "video":
            content[kind].update(width=640, height=360)
        caption = self._caption(params)
        if caption is not None:
            content["caption"] = caption
        return await self._send(method, params, content)

    async def _send_location(self, params: JSONDict) -> JSONDict:
        if params.get("latitude") is None or params.get("longitude") is None:
            raise _bad_request("latitude or longitude is empty")
        latitude = _as_float(params["latitude"], "latitude")
        longitude = _as_float(params["longitude"], "longitude")
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise _bad_request("wrong location specified")
        location: JSONDict = {"latitude": latitude, "longitude": longitude}
        for extra in ("horizontal_accuracy", "live_period", "heading", "proximity_alert_radius"):
            if params.get(extra) is not None:
                location[extra] = params[extra]
        return await self._send("sendLocation", params, {"location": location})

    async def _send_contact(self, params: JSONDict) -> JSONDict:
        phone = _opt_str(params, "phone_number")
        first_name = _opt_str(params, "first_name")
        if not phone:
            raise _bad_request("phone number is empty")  # wording approximated
        if not first_name:
            raise _bad_request("first name is empty")
        contact: JSONDict = {"phone_number": phone, "first_name": first_name}
        for extra in ("last_name", "vcard"):
            if params.get(extra) is not None:
                contact[extra] = str(params[extra])
        return await self._send("sendContact", params, {"contact": contact})

    async def _send_chat_action(self, params: JSONDict) -> bool:
        self._chat_id(params)
        if str(params.get("action") or "") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    def _edit_target(self, params: JSONDict) -> tuple[int, int, JSONDict] | None:
        """Locate the message to edit; None for inline messages (not tracked)."""
        if params.get("inline_message_id") is not None:
            return None
        chat_id = self._chat_id(params)
        message_id = _opt_int(params, "message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise _bad_request("message to edit not found")
        if message["from"]["id"] != self.bot_id:
            raise _bad_request("message can't be edited")
        return chat_id, message_id, message

    def _record_edit(
        self,
        method: str,
        params: JSONDict,
        target: tuple[int, int, JSONDict] | None,
        text: str | None,
        markup: JSONDict | None,
    ) -> None:
        self.edits.append(
            EditedMessage(
                method=method,
                chat_id=target[0] if target else None,
                message_id=target[1] if target else None,
                inline_message_id=_opt_str(params, "inline_message_id"),
                text=text,
                reply_markup=copy.deepcopy(markup),
                params=params,
                at=time.time(),
            )
        )
        self._touch()

    @staticmethod
    def _apply_markup(message: JSONDict, markup: JSONDict | None) -> None:
        # Omitting reply_markup in an edit removes the inline keyboard (a classic gotcha).
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)

    async def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        raw = params.get("text")
        text = "" if raw is None else str(raw)
        if not text.strip():
            raise _bad_request("message text is empty")
        rendered = self._render(text, params.get("parse_mode"))
        if self.strict and _utf16_len(rendered) > MAX_TEXT_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
        markup = self._reply_markup(params)
        target = self._edit_target(params)
        if target is None:
            self._record_edit("editMessageText", params, None, text, markup)
            return True
        message = target[2]
        if "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        new_markup = markup if markup is not None and "inline_keyboard" in markup else None
        unchanged = message["text"] == rendered and message.get("reply_markup") == new_markup
        if self.strict and unchanged:
            raise _bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        message["text"] = rendered
        if isinstance(params.get("entities"), list):
            message["entities"] = params["entities"]
        else:
            message.pop("entities", None)
        self._apply_markup(message, markup)
        message["edit_date"] = int(time.time())
        self._record_edit("editMessageText", params, target, text, markup)
        return copy.deepcopy(message)

    async def _edit_message_caption(self, params: JSONDict) -> JSONDict | bool:
        caption = self._caption(params)
        markup = self._reply_markup(params)
        target = self._edit_target(params)
        if target is None:
            self._record_edit("editMessageCaption", params, None, caption, markup)
            return True
        message = target[2]
        if "text" in message or "location" in message or "contact" in message:
            raise _bad_request("there is no caption in the message to edit")
        new_markup = markup if markup is not None and "inline_keyboard" in markup else None
        if self.strict and message.get("caption") == caption and message.get("reply_markup") == new_markup:
            raise _bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        if caption is None:
            message.pop("caption", None)
        else:
            message["caption"] = caption
        self._apply_markup(message, markup)
        message["edit_date"] = int(time.time())
        self._record_edit("editMessageCaption", params, target, caption, markup)
        return copy.deepcopy(message)

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        markup = self._reply_markup(params)
        target = self._edit_target(params)
        if target is None:
            self._record_edit("editMessageReplyMarkup", params, None, None, markup)
            return True
        message = target[2]
        new_markup = markup if markup is not None and "inline_keyboard" in markup else None
        if self.strict and message.get("reply_markup") == new_markup:
            raise _bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        self._apply_markup(message, markup)
        message["edit_date"] = int(time.time())
        self._record_edit(
            "editMessageReplyMarkup",
            params,
            target,
            message.get("text", message.get("caption")),
            markup,
        )
        return copy.deepcopy(message)

    async def _delete_message(self, params: JSONDict) -> bool:
        chat_id = self._chat_id(params)
        message_id = _opt_int(params, "message_id")
        if message_id is None or self._messages.pop((chat_id, message_id), None) is None:
            raise _bad_request("message to delete not found")
        self.deleted.append((chat_id, message_id))
        self._touch()
        return True

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = _opt_str(params, "callback_query_id")
        if not query_id:
            raise _bad_request("QUERY_ID_INVALID")
        if self.strict and query_id not in self._callback_ids:
            raise _bad_request("query is too old and response timeout expired or query ID is invalid")
        return True

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope_dict = scope if isinstance(scope, dict) else {"type": "default"}
        return json.dumps(scope_dict, sort_keys=True), str(language_code or "")

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand")
            name = str(command.get("command") or "")
            if self.strict and not _BOT_COMMAND_NAME_RE.fullmatch(name):
                raise _bad_request("BOT_COMMAND_INVALID")
            if self.strict and not 1 <= len(str(command.get("description") or "")) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self.commands[key] = [
            {"command": str(c["command"]), "description": str(c["description"])} for c in commands
        ]
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        return copy.deepcopy(self.commands.get(key, []))

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self.commands.pop(key, None)
        return True

    async def _set_chat_menu_button(self, params: JSONDict) -> bool:
        chat_id = _opt_int(params, "chat_id")
        button = params.get("menu_button")
        if button is None:
            button = {"type": "default"}
        valid_types = ("default", "commands", "web_app")
        if not isinstance(button, dict) or button.get("type") not in valid_types:
            raise _bad_request("can't parse menu button")
        self.menu_buttons[chat_id] = button
        return True

    async def _get_chat_menu_button(self, params: JSONDict) -> JSONDict:
        chat_id = _opt_int(params, "chat_id")
        button = self.menu_buttons.get(chat_id) or self.menu_buttons.get(None)
        if button is None or button.get("type") == "default":
            return {"type": "commands"}
        return copy.deepcopy(button)

    async def _get_file(self, params: JSONDict) -> JSONDict:
        file_id = _opt_str(params, "file_id")
        if not file_id or (file_id not in self._file_meta and file_id not in self.files):
            raise _bad_request("invalid file_id")
        meta = self._file_meta.get(file_id, {"file_id": file_id})
        size = len(self.files[file_id]) if file_id in self.files else meta.get("file_size")
        if size is not None and int(size) > MAX_DOWNLOAD_SIZE:
            raise _bad_request("file is too big")
        result: JSONDict = {
            "file_id": file_id,
            "file_unique_id": _unique_id(file_id),
            "file_path": f"files/{file_id}",
        }
        if size is not None:
            result["file_size"] = int(size)
        return result
