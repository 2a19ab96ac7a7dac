"""In-process stand-in for the LINE Messaging API (``api.line.me`` and ``api-data.line.me``).

Tests start :class:`FakeLineApi` and point line-bot-sdk v3's async clients at it::

    config = Configuration(host=api.url, access_token=api.access_token)
    async with AsyncApiClient(config) as client:
        messaging, blob = AsyncMessagingApi(client), AsyncMessagingApiBlob(client)

One host serves both APIs: an explicit ``Configuration.host`` overrides the per-operation
``https://api-data.line.me`` host the blob API would otherwise use. Webhooks travel the other
way: the ``make_event_*`` helpers build events (registering their reply tokens as valid),
``webhook_body`` + ``sign`` turn them into what LINE would POST to the bot, and ``delivered``,
``messages_to`` and ``calls`` show what the bot sent back.

Wire format notes (line-bot-sdk 3.x, ``linebot/v3/messaging/async_rest.py``):

* Every request carries ``Authorization: Bearer <token>`` and ``User-Agent:
  line-bot-sdk-python/<version>``; bodies are ``json.dumps`` output (ASCII-escaped, with spaces)
  and always include ``"notificationDisabled": false`` for reply/push/multicast.
* ``X-Line-Retry-Key`` is only sent when ``x_line_retry_key=`` is passed to push/multicast.
* Requests without a body (set default rich menu, delete) still say ``Content-Type:
  application/json``.
* ``set_rich_menu_image`` sets no Content-Type of its own: without ``_headers={"Content-Type":
  "image/png"}`` the SDK tries to ``json.dumps`` the bytes and fails before sending anything.
* Error responses become ``ApiException`` with ``status``, ``headers`` and ``body`` (the
  decoded text of the JSON error), whatever the status code.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import copy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import struct
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

JSONDict = dict[str, Any]
_RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Detail = tuple[str, str]  # (message, property) of a LINE error detail

# Limits from the Messaging API reference, enforced so tests fail the way production would.
MAX_MESSAGES_PER_REQUEST = 5
MAX_TEXT_LENGTH = 5000
MAX_QUICK_REPLY_ITEMS = 13
MAX_ACTION_LABEL = 20
MAX_POSTBACK_DATA = 300
MAX_MESSAGE_ACTION_TEXT = 300
MAX_URL_LENGTH = 2000
MAX_ALT_TEXT = 1500
MAX_LOCATION_TEXT = 100
MAX_MULTICAST_RECIPIENTS = 500
MAX_RICH_MENU_AREAS = 20
MAX_CHAT_BAR_TEXT = 14
MAX_RICH_MENU_NAME = 300
MAX_RICH_MENU_IMAGE_BYTES = 1024 * 1024

AUTH_FAILED = "Authentication failed. Confirm that the access token in the authorization header is valid."
DEFAULT_DESTINATION = "Udeadbeefdeadbeefdeadbeefdeadbeef"

# Every route has a name ("kind"): faults, delays and ApiCall.kind refer to routes by it.
PATH_KINDS = frozenset(
    {
        "reply",
        "push",
        "multicast",
        "validate_reply",
        "validate_push",
        "profile",
        "group_summary",
        "quota",
        "quota_consumption",
        "content",
        "content_transcoding",
        "loading",
        "bot_info",
        "richmenu_create",
        "richmenu_list",
        "richmenu_get",
        "richmenu_delete",
        "richmenu_image_upload",
        "richmenu_image_download",
        "richmenu_default_set",
        "richmenu_default_get",
        "richmenu_default_delete",
        "richmenu_user_link",
    }
)
# LINE only honours X-Line-Retry-Key on the sending endpoints and rejects it (400) elsewhere.
_RETRY_KEY_KINDS = frozenset({"push", "multicast"})

_MESSAGE_TYPES = ("text", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex")
_QUICK_REPLY_ACTIONS = frozenset(
    {"postback", "message", "uri", "datetimepicker", "camera", "cameraRoll", "location", "clipboard"}
)
_RICH_MENU_ACTIONS = frozenset(
    {"postback", "message", "uri", "datetimepicker", "richmenuswitch", "camera", "cameraRoll", "location"}
)
_CHAT_ID_RE = re.compile(r"[UCR][0-9a-f]{32}")
_USER_ID_RE = re.compile(r"U[0-9a-f]{32}")
_GROUP_ID_RE = re.compile(r"C[0-9a-f]{32}")
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CROCKFORD32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the dimensions; C4/C8/CC share the range but are not frames.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}

# The middleware mints the request id; handlers (same task) read it to fill sentMessages/409s.
_current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("line_request_id", default="")


@dataclass
class Delivered:
    """One accepted send: a reply, a push, or one recipient of a multicast."""

    via: str  # "reply" | "push" | "multicast"
    to: str | None  # for replies: the chat the reply token was issued for
    messages: list[JSONDict]
    retry_key: str | None
    at: float
    request_id: str = ""
    reply_token: str | None = None
    sent_messages: list[JSONDict] = field(default_factory=list)  # [{"id", "quoteToken"}] as returned


@dataclass
class ApiCall:
    """One HTTP request the bot made, whatever its outcome."""

    method: str
    path: str
    kind: str | None  # route name from PATH_KINDS, None for unknown paths
    status: int
    headers: dict[str, str]
    body: Any  # decoded JSON request body; None when empty or binary (see raw)
    raw: bytes
    response: Any  # decoded JSON response body; None for binary responses
    retry_key: str | None
    request_id: str
    at: float


@dataclass
class StoredBlob:
    """Binary content served by the fake: message content or a rich menu image."""

    data: bytes
    content_type: str


@dataclass
class _Fault:
    status: int
    body: JSONDict
    processed: bool


@dataclass
class _ReplyToken:
    chat_id: str
    issued_at: float
    used: bool = False


@dataclass
class _AcceptedRetryKey:
    request_id: str
    sent_messages: list[JSONDict]


class _LineError(Exception):
    """Raised by handlers to answer with a LINE-style JSON error."""

    def __init__(self, status: int, body: JSONDict, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body.get('message')}")
        self.status, self.body, self.headers = status, body, headers or {}

    def response(self) -> web.Response:
        return web.json_response(self.body, status=self.status, headers=self.headers)


def _body_error(details: list[_Detail]) -> _LineError:
    return _LineError(
        400,
        {
            "message": f"The request body has {len(details)} error(s)",
            "details": [{"message": message, "property": prop} for message, prop in details],
        },
    )


def _not_found() -> _LineError:
    return _LineError(404, {"message": "Not found"})


def _utf16_len(text: str) -> int:
    # LINE counts characters in UTF-16 code units: an emoji outside the BMP costs two.
    return len(text.encode("utf-16-le")) // 2


def _ulid() -> str:
    """A ULID-shaped id (48-bit millisecond time + 80 random bits, Crockford base32), as LINE uses."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD32[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _check_str(
    details: list[_Detail],
    obj: JSONDict,
    key: str,
    prop: str,
    *,
    max_len: int,
    required: bool = True,
    allow_empty: bool = False,
) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            details.append(("must be specified", prop))
        return None
    if not isinstance(value, str):
        details.append(("must be a string", prop))
        return None
    if not value and not allow_empty:
        details.append(("may not be empty", prop))
    elif _utf16_len(value) > max_len:
        details.append((f"Length must be between {0 if allow_empty else 1} and {max_len}", prop))
    return value


def _check_https(
    details: list[_Detail], obj: JSONDict, key: str, prop: str, *, required: bool = True
) -> None:
    value = _check_str(details, obj, key, prop, max_len=MAX_URL_LENGTH, required=required)
    if value and not value.startswith("https://"):
        details.append(("must be a HTTPS URL", prop))


def _check_number(
    details: list[_Detail], obj: JSONDict, key: str, prop: str, low: float, high: float
) -> None:
    value = obj.get(key)
    if value is None:
        details.append(("must be specified", prop))
    elif isinstance(value, bool) or not isinstance(value, int | float):
        details.append(("must be a number", prop))
    elif not low <= value <= high:
        details.append((f"must be between {low:g} and {high:g}", prop))


def _validate_action(
    details: list[_Detail], action: Any, prop: str, *, allowed: frozenset[str], label_required: bool
) -> None:
    if not isinstance(action, dict):
        details.append(("must be specified", prop))
        return
    kind = action.get("type")
    if kind not in allowed:
        details.append(
            (f"Must be one of the following values: [{', '.join(sorted(allowed))}]", f"{prop}.type")
        )
        return
    # Quick reply buttons always show a label; rich menu areas may omit it.
    needs_label = label_required and kind != "clipboard"
    _check_str(details, action, "label", f"{prop}.label", max_len=MAX_ACTION_LABEL, required=needs_label)
    if kind == "postback":
        _check_str(details, action, "data", f"{prop}.data", max_len=MAX_POSTBACK_DATA, allow_empty=True)
        _check_str(details, action, "displayText", f"{prop}.displayText", max_len=300, required=False)
    elif kind == "message":
        _check_str(details, action, "text", f"{prop}.text", max_len=MAX_MESSAGE_ACTION_TEXT)
    elif kind == "uri":
        _check_str(details, action, "uri", f"{prop}.uri", max_len=1000)
    elif kind == "datetimepicker":
        _check_str(details, action, "data", f"{prop}.data", max_len=MAX_POSTBACK_DATA, allow_empty=True)
        if action.get("mode") not in ("date", "time", "datetime"):
            details.append(("Must be one of the following values: [date, time, datetime]", f"{prop}.mode"))
    elif kind == "richmenuswitch":
        _check_str(details, action, "richMenuAliasId", f"{prop}.richMenuAliasId", max_len=32)
        _check_str(details, action, "data", f"{prop}.data", max_len=MAX_POSTBACK_DATA, allow_empty=True)
    elif kind == "clipboard":
        _check_str(details, action, "clipboardText", f"{prop}.clipboardText", max_len=1000)


def _validate_quick_reply(details: list[_Detail], quick_reply: Any, prop: str) -> None:
    items = quick_reply.get("items") if isinstance(quick_reply, dict) else None
    if not isinstance(items, list):
        details.append(("must be specified", f"{prop}.items"))
        return
    if not 1 <= len(items) <= MAX_QUICK_REPLY_ITEMS:
        details.append((f"Size must be between 1 and {MAX_QUICK_REPLY_ITEMS}", f"{prop}.items"))
        return
    for i, item in enumerate(items):
        item_prop = f"{prop}.items[{i}]"
        if not isinstance(item, dict) or item.get("type") != "action":
            details.append(("Must be one of the following values: [action]", f"{item_prop}.type"))
            continue
        if "imageUrl" in item:
            _check_https(details, item, "imageUrl", f"{item_prop}.imageUrl")
        _validate_action(
            details,
            item.get("action"),
            f"{item_prop}.action",
            allowed=_QUICK_REPLY_ACTIONS,
            label_required=True,
        )


def _validate_message(details: list[_Detail], message: Any, prop: str) -> None:
    if not isinstance(message, dict):
        details.append(("must be an object", prop))
        return
    kind = message.get("type")
    if kind is None:
        details.append(("must be specified", f"{prop}.type"))
        return
    if kind not in _MESSAGE_TYPES:
        details.append(
            (f"Must be one of the following values: [{', '.join(_MESSAGE_TYPES)}]", f"{prop}.type")
        )
        return
    if kind == "text":
        _check_str(details, message, "text", f"{prop}.text", max_len=MAX_TEXT_LENGTH)
    elif kind == "image":
        _check_https(details, message, "originalContentUrl", f"{prop}.originalContentUrl")
        _check_https(details, message, "previewImageUrl", f"{prop}.previewImageUrl")
    elif kind == "video":
        _check_https(details, message, "originalContentUrl", f"{prop}.originalContentUrl")
        _check_https(details, message, "previewImageUrl", f"{prop}.previewImageUrl")
    elif kind == "audio":
        _check_https(details, message, "originalContentUrl", f"{prop}.originalContentUrl")
        if not isinstance(message.get("duration"), int):
            details.append(("must be specified", f"{prop}.duration"))
    elif kind == "location":
        _check_str(details, message, "title", f"{prop}.title", max_len=MAX_LOCATION_TEXT)
        _check_str(details, message, "address", f"{prop}.address", max_len=MAX_LOCATION_TEXT)
        _check_number(details, message, "latitude", f"{prop}.latitude", -90, 90)
        _check_number(details, message, "longitude", f"{prop}.longitude", -180, 180)
    elif kind == "sticker":
        _check_str(details, message, "packageId", f"{prop}.packageId", max_len=100)
        _check_str(details, message, "stickerId", f"{prop}.stickerId", max_len=100)
    else:  # imagemap, template, flex: only the alt text is checked, contents pass through
        _check_str(details, message, "altText", f"{prop}.altText", max_len=MAX_ALT_TEXT)
    if "quickReply" in message:
        _validate_quick_reply(details, message["quickReply"], f"{prop}.quickReply")


def _validate_messages(body: JSONDict) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _body_error([("must be specified", "messages")])
    if not 1 <= len(messages) <= MAX_MESSAGES_PER_REQUEST:
        raise _body_error([(f"Size must be between 1 and {MAX_MESSAGES_PER_REQUEST}", "messages")])
    details: list[_Detail] = []
    for i, message in enumerate(messages):
        _validate_message(details, message, f"messages[{i}]")
    if details:
        raise _body_error(details)


def _validate_rich_menu(body: JSONDict) -> None:
    details: list[_Detail] = []
    size = body.get("size")
    width = height = 0
    if not isinstance(size, dict):
        details.append(("must be specified", "size"))
    else:
        raw_width, raw_height = size.get("width"), size.get("height")
        if isinstance(raw_width, int) and 800 <= raw_width <= 2500:
            width = raw_width
        else:
            details.append(("must be between 800 and 2500", "size.width"))
        if isinstance(raw_height, int) and raw_height >= 250:
            height = raw_height
        else:
            details.append(("must be greater than or equal to 250", "size.height"))
        if width and height and width / height < 1.45:
            details.append(("aspect ratio (width / height) must be at least 1.45", "size"))
    if not isinstance(body.get("selected"), bool):
        details.append(("must be specified", "selected"))
    _check_str(details, body, "name", "name", max_len=MAX_RICH_MENU_NAME)
    _check_str(details, body, "chatBarText", "chatBarText", max_len=MAX_CHAT_BAR_TEXT)
    areas = body.get("areas")
    if not isinstance(areas, list):
        details.append(("must be specified", "areas"))
    elif len(areas) > MAX_RICH_MENU_AREAS:
        details.append((f"Size must be between 0 and {MAX_RICH_MENU_AREAS}", "areas"))
    else:
        for i, area in enumerate(areas):
            prop = f"areas[{i}]"
            bounds = area.get("bounds") if isinstance(area, dict) else None
            if not isinstance(bounds, dict) or not all(
                isinstance(bounds.get(k), int) and not isinstance(bounds.get(k), bool)
                for k in ("x", "y", "width", "height")
            ):
                details.append(("must be specified", f"{prop}.bounds"))
            elif (
                bounds["x"] < 0
                or bounds["y"] < 0
                or bounds["width"] < 1
                or bounds["height"] < 1
                or (width and bounds["x"] + bounds["width"] > width)
                or (height and bounds["y"] + bounds["height"] > height)
            ):
                details.append(("must be inside the rich menu", f"{prop}.bounds"))
            action = area.get("action") if isinstance(area, dict) else None
            _validate_action(
                details, action, f"{prop}.action", allowed=_RICH_MENU_ACTIONS, label_required=False
            )
    if details:
        raise _body_error(details)


def _image_size(data: bytes, content_type: str) -> tuple[int, int] | None:
    """(width, height) read from the PNG IHDR / JPEG SOF header, None if the bytes are not that image."""
    if content_type == "image/png":
        if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR" or len(data) < 24:
            return None
        png_width, png_height = struct.unpack(">II", data[16:24])
        return int(png_width), int(png_height)
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length field
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _JPEG_SOF_MARKERS:
            if i + 9 > len(data):
                return None
            jpeg_height, jpeg_width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(jpeg_width), int(jpeg_height)
        i += 2 + length
    return None


def _decode_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None


class FakeLineApi:
    """A local LINE Messaging API: start it, point line-bot-sdk at ``url``, inspect what arrived."""

    def __init__(
        self,
        access_token: str = "test-access-token",
        channel_secret: str = "test-channel-secret",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        destination: str = DEFAULT_DESTINATION,
    ) -> None:
        self.access_token = access_token
        self.channel_secret = channel_secret
        self.host = host
        self._port = port
        self.destination = destination  # the bot's own user id, as in webhook "destination"
        self.reply_token_ttl: float = 60.0
        self.quota_limit: int | None = None  # None: {"type": "none"}; else pushes beyond it get 429

        self.delivered: list[Delivered] = []
        self.calls: list[ApiCall] = []
        self.contents: dict[str, StoredBlob] = {}
        self.profiles: dict[str, JSONDict] = {}
        self.groups: dict[str, JSONDict] = {}
        self.rich_menus: dict[str, JSONDict] = {}
        self.rich_menu_images: dict[str, StoredBlob] = {}
        self.default_rich_menu_id: str | None = None
        self.user_rich_menus: dict[str, str] = {}

        self._reply_tokens: dict[str, _ReplyToken] = {}
        self._retry_keys: dict[str, _AcceptedRetryKey] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._delays: dict[str, deque[float]] = {}
        self._message_ids = itertools.count(secrets.randbelow(10**17) + 5 * 10**17)
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        # Above LINE's 1 MB rich menu image limit so the handler, not aiohttp, answers 413.
        app = web.Application(client_max_size=16 * 1024 * 1024, middlewares=[self._middleware])
        routes: list[tuple[str, str, _RouteHandler, str]] = [
            ("POST", "/v2/bot/message/reply", self._reply, "reply"),
            ("POST", "/v2/bot/message/push", self._push, "push"),
            ("POST", "/v2/bot/message/multicast", self._multicast, "multicast"),
            ("POST", "/v2/bot/message/validate/reply", self._validate, "validate_reply"),
            ("POST", "/v2/bot/message/validate/push", self._validate, "validate_push"),
            ("GET", "/v2/bot/message/quota", self._quota, "quota"),
            ("GET", "/v2/bot/message/quota/consumption", self._quota_consumption, "quota_consumption"),
            ("GET", "/v2/bot/message/{messageId}/content", self._content, "content"),
            (
                "GET",
                "/v2/bot/message/{messageId}/content/transcoding",
                self._transcoding,
                "content_transcoding",
            ),
            ("GET", "/v2/bot/profile/{userId}", self._profile, "profile"),
            ("GET", "/v2/bot/group/{groupId}/summary", self._group_summary, "group_summary"),
            ("POST", "/v2/bot/chat/loading/start", self._loading, "loading"),
            ("GET", "/v2/bot/info", self._bot_info, "bot_info"),
            ("POST", "/v2/bot/richmenu", self._richmenu_create, "richmenu_create"),
            # "list" must be registered before the {richMenuId} routes it would otherwise match.
            ("GET", "/v2/bot/richmenu/list", self._richmenu_list, "richmenu_list"),
            ("GET", "/v2/bot/richmenu/{richMenuId}", self._richmenu_get, "richmenu_get"),
            ("DELETE", "/v2/bot/richmenu/{richMenuId}", self._richmenu_delete, "richmenu_delete"),
            ("POST", "/v2/bot/richmenu/{richMenuId}/content", self._richmenu_upload, "richmenu_image_upload"),
            (
                "GET",
                "/v2/bot/richmenu/{richMenuId}/content",
                self._richmenu_download,
                "richmenu_image_download",
            ),
            ("POST", "/v2/bot/user/all/richmenu/{richMenuId}", self._default_set, "richmenu_default_set"),
            ("GET", "/v2/bot/user/all/richmenu", self._default_get, "richmenu_default_get"),
            ("DELETE", "/v2/bot/user/all/richmenu", self._default_delete, "richmenu_default_delete"),
            ("POST", "/v2/bot/user/{userId}/richmenu/{richMenuId}", self._user_link, "richmenu_user_link"),
        ]
        for method, path, handler, name in routes:
            app.router.add_route(method, path, handler, name=name)
        self._closing = asyncio.Event()
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._closing.set()  # wakes handlers sleeping in delay_next() so shutdown is quick
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> FakeLineApi:
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
        """Value for ``Configuration(host=...)`` of both AsyncMessagingApi and AsyncMessagingApiBlob."""
        if self._runner is None:
            raise RuntimeError("FakeLineApi is not started")
        return f"http://{self.host}:{self._port}"

    # ------------------------------------------------------------------ test set-up

    @staticmethod
    def new_user_id() -> str:
        """A fresh, well-formed LINE user id (U + 32 hex digits)."""
        return "U" + secrets.token_hex(16)

    @staticmethod
    def new_group_id() -> str:
        """A fresh, well-formed LINE group id (C + 32 hex digits)."""
        return "C" + secrets.token_hex(16)

    def add_content(self, message_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """Make ``GET /v2/bot/message/{message_id}/content`` return ``data``."""
        self.contents[message_id] = StoredBlob(data, content_type)

    def add_profile(
        self,
        user_id: str,
        display_name: str,
        *,
        picture_url: str | None = None,
        status_message: str | None = None,
        language: str | None = "th",
    ) -> None:
        profile: JSONDict = {"displayName": display_name, "userId": user_id}
        # LINE omits these keys entirely (rather than sending null) when they are unset.
        for key, value in (
            ("pictureUrl", picture_url),
            ("statusMessage", status_message),
            ("language", language),
        ):
            if value is not None:
                profile[key] = value
        self.profiles[user_id] = profile

    def add_group(self, group_id: str, name: str, *, picture_url: str | None = None) -> None:
        group: JSONDict = {"groupId": group_id, "groupName": name}
        if picture_url is not None:
            group["pictureUrl"] = picture_url
        self.groups[group_id] = group

    def fail_next(
        self,
        path_kind: str,
        count: int = 1,
        status: int = 429,
        body: JSONDict | None = None,
        *,
        processed: bool = False,
    ) -> None:
        """Answer the next ``count`` calls of ``path_kind`` with ``status``.

        With ``processed=True`` the request is carried out first (messages delivered, retry key and
        reply token consumed) and only the response is an error - the "500 but it went through"
        case that X-Line-Retry-Key exists for.
        """
        self._check_kind(path_kind)
        if body is None:
            body = {"message": HTTPStatus(status).phrase}
        queue = self._faults.setdefault(path_kind, deque())
        queue.extend(_Fault(status, dict(body), processed) for _ in range(count))

    def delay_next(self, path_kind: str, count: int = 1, seconds: float = 1.0) -> None:
        """Hold the next ``count`` calls of ``path_kind`` for ``seconds`` before handling them."""
        self._check_kind(path_kind)
        self._delays.setdefault(path_kind, deque()).extend([seconds] * count)

    def issue_reply_token(self, chat_id: str) -> str:
        """Register a fresh reply token for ``chat_id`` (what every make_event_* does)."""
        token = secrets.token_hex(16)
        self._reply_tokens[token] = _ReplyToken(chat_id, time.monotonic())
        return token

    # ------------------------------------------------------------------ webhooks to the bot

    def make_event_text(self, user_id: str, text: str, *, group_id: str | None = None) -> JSONDict:
        message = {"type": "text", "id": self._message_id(), "text": text, "quoteToken": self._quote_token()}
        return self._event("message", user_id, group_id, message=message)

    def make_event_postback(
        self,
        user_id: str,
        data: str,
        *,
        group_id: str | None = None,
        params: dict[str, str] | None = None,
    ) -> JSONDict:
        postback: JSONDict = {"data": data}
        if params is not None:  # datetime picker / rich menu switch results
            postback["params"] = dict(params)
        return self._event("postback", user_id, group_id, postback=postback)

    def make_event_image(
        self,
        user_id: str,
        message_id: str,
        *,
        group_id: str | None = None,
        content: bytes | None = None,
        content_type: str = "image/jpeg",
    ) -> JSONDict:
        if content is not None:
            self.add_content(message_id, content, content_type)
        message = {
            "type": "image",
            "id": message_id,
            "contentProvider": {"type": "line"},
            "quoteToken": self._quote_token(),
        }
        return self._event("message", user_id, group_id, message=message)

    def make_event_file(
        self,
        user_id: str,
        message_id: str,
        file_name: str,
        size: int,
        *,
        group_id: str | None = None,
        content: bytes | None = None,
        content_type: str = "application/octet-stream",
    ) -> JSONDict:
        if content is not None:
            self.add_content(message_id, content, content_type)
        message = {"type": "file", "id": message_id, "fileName": file_name, "fileSize": size}
        return self._event("message", user_id, group_id, message=message)

    def make_event_media(
        self,
        user_id: str,
        message_id: str,
        kind: str,
        *,
        duration_ms: int = 12_000,
        content: bytes | None = None,
        group_id: str | None = None,
    ) -> JSONDict:
        """An audio (voice) or video message: LINE gives no size, only a duration."""
        if kind not in ("audio", "video"):
            raise ValueError(kind)
        if content is not None:
            self.add_content(message_id, content, "audio/m4a" if kind == "audio" else "video/mp4")
        message: JSONDict = {"type": kind, "id": message_id, "duration": duration_ms}
        message["contentProvider"] = {"type": "line"}
        if kind == "video":
            message["quoteToken"] = self._quote_token()
        return self._event("message", user_id, group_id, message=message)

    def make_event_location(
        self,
        user_id: str,
        lat: float,
        lon: float,
        title: str | None = None,
        *,
        address: str | None = None,
        group_id: str | None = None,
    ) -> JSONDict:
        message: JSONDict = {"type": "location", "id": self._message_id()}
        # Title and address are absent, not null, when the user shares a bare pin.
        if title is not None:
            message["title"] = title
        if address is not None:
            message["address"] = address
        message |= {"latitude": lat, "longitude": lon}
        return self._event("message", user_id, group_id, message=message)

    def make_event_sticker(
        self,
        user_id: str,
        *,
        package_id: str = "446",
        sticker_id: str = "1988",
        group_id: str | None = None,
    ) -> JSONDict:
        message = {
            "type": "sticker",
            "id": self._message_id(),
            "stickerId": sticker_id,
            "packageId": package_id,
            "stickerResourceType": "STATIC",
            "keywords": ["Happy", "Smile"],
            "quoteToken": self._quote_token(),
        }
        return self._event("message", user_id, group_id, message=message)

    def make_event_follow(self, user_id: str, *, is_unblocked: bool = False) -> JSONDict:
        return self._event("follow", user_id, None, follow={"isUnblocked": is_unblocked})

    def make_event_unfollow(self, user_id: str) -> JSONDict:
        # A blocked bot cannot answer: unfollow events carry no reply token.
        return self._event("unfollow", user_id, None, reply=False)

    def make_event_join(self, group_id: str) -> JSONDict:
        return self._event("join", None, group_id)

    def redelivery(self, event: JSONDict) -> JSONDict:
        """The same event as LINE redelivers it: same webhookEventId and reply token, isRedelivery true."""
        again = copy.deepcopy(event)
        again["deliveryContext"] = {"isRedelivery": True}
        return again

    def webhook_body(self, events: Iterable[JSONDict], destination: str | None = None) -> bytes:
        """The request body LINE would POST: compact UTF-8 JSON (Thai text is not \\u-escaped)."""
        payload = {"destination": destination or self.destination, "events": list(events)}
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def sign(self, body: bytes) -> str:
        """The ``x-line-signature`` header value: base64(HMAC-SHA256(channel secret, raw body))."""
        digest = hmac.new(self.channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")

    def webhook_headers(self, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "LineBotWebhook/2.0",
            "x-line-signature": self.sign(body),
        }

    async def post_webhook(
        self,
        url: str,
        events: Iterable[JSONDict],
        *,
        destination: str | None = None,
        signature: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - plain number reads better in tests
    ) -> int:
        """POST events to the bot's webhook like LINE does; returns the HTTP status the bot answered."""
        body = self.webhook_body(events, destination)
        headers = self.webhook_headers(body)
        if signature is not None:  # lets tests send a forged signature
            headers["x-line-signature"] = signature
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with (
            aiohttp.ClientSession(timeout=client_timeout) as session,
            session.post(url, data=body, headers=headers) as response,
        ):
            await response.read()
            return response.status

    # ------------------------------------------------------------------ inspection

    def messages_to(self, chat_id: str) -> list[JSONDict]:
        """Message objects delivered to ``chat_id`` by reply, push or multicast, in order."""
        return [copy.deepcopy(m) for d in self.delivered if d.to == chat_id for m in d.messages]

    def texts_to(self, chat_id: str) -> list[str]:
        return [m["text"] for m in self.messages_to(chat_id) if m.get("type") == "text"]

    def calls_of(self, kind: str) -> list[ApiCall]:
        return [c for c in self.calls if c.kind == kind]

    async def wait_for_messages(
        self,
        chat_id: str,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109 - plain number reads better in tests
    ) -> list[JSONDict]:
        """Wait until at least ``count`` messages reached ``chat_id``; return all of them."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages_to(chat_id)
            if len(messages) >= count:
                return messages
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"expected >= {count} message(s) to {chat_id} within {timeout}s, "
                    f"got {len(messages)}.\n{self.dump()}"
                )
            await asyncio.sleep(0.01)

    def dump(self, last_calls: int = 20) -> str:
        """Human-readable state for assertion messages: deliveries per chat and the latest calls."""
        lines = ["Delivered:"]
        for d in self.delivered:
            summary = ", ".join(
                repr(m.get("text"))[:80] if m.get("type") == "text" else f"<{m.get('type')}>"
                for m in d.messages
            )
            key = f" retry_key={d.retry_key}" if d.retry_key else ""
            lines.append(f"  {d.via:9} -> {d.to}{key}: {summary}")
        if not self.delivered:
            lines.append("  (nothing)")
        lines.append(f"Last {last_calls} API calls:")
        for c in self.calls[-last_calls:]:
            line = f"  {c.method} {c.path} -> {c.status}"
            if c.status >= 400:
                line += f" {json.dumps(c.response, ensure_ascii=False)[:300]}"
            lines.append(line)
        if not self.calls:
            lines.append("  (none)")
        return "\n".join(lines)

    # ------------------------------------------------------------------ internals

    def _check_kind(self, path_kind: str) -> None:
        if path_kind not in PATH_KINDS:
            raise ValueError(f"unknown path kind {path_kind!r}; expected one of {sorted(PATH_KINDS)}")

    def _message_id(self) -> str:
        return str(next(self._message_ids))

    @staticmethod
    def _quote_token() -> str:
        return secrets.token_urlsafe(66)

    def _event(
        self,
        event_type: str,
        user_id: str | None,
        group_id: str | None,
        *,
        reply: bool = True,
        **payload: JSONDict,
    ) -> JSONDict:
        # Malformed ids would only fail later, at push time; fail where the test wrote them instead.
        if user_id is not None and not _USER_ID_RE.fullmatch(user_id):
            raise ValueError(f"{user_id!r} is not a LINE user id (U + 32 hex); use FakeLineApi.new_user_id()")
        if group_id is not None and not _GROUP_ID_RE.fullmatch(group_id):
            raise ValueError(
                f"{group_id!r} is not a LINE group id (C + 32 hex); use FakeLineApi.new_group_id()"
            )
        source: JSONDict
        if group_id is not None:
            source = {"type": "group", "groupId": group_id}
            if user_id is not None:
                source["userId"] = user_id
            self.groups.setdefault(group_id, {"groupId": group_id, "groupName": f"Group {group_id[-4:]}"})
        else:
            assert user_id is not None
            source = {"type": "user", "userId": user_id}
        if user_id is not None and user_id not in self.profiles:
            self.add_profile(user_id, f"User {user_id[-4:]}")
        event: JSONDict = {"type": event_type, **payload}
        event |= {
            "webhookEventId": _ulid(),
            "deliveryContext": {"isRedelivery": False},
            "timestamp": int(time.time() * 1000),
            "source": source,
        }
        if reply:
            event["replyToken"] = self.issue_reply_token(group_id or user_id or "")
        event["mode"] = "active"
        return event

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _RouteHandler) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        _current_request_id.set(request_id)
        raw = await request.read()  # cached by aiohttp, handlers can read it again
        route_name = request.match_info.route.name
        kind = route_name if route_name in PATH_KINDS else None
        retry_key = request.headers.get("X-Line-Retry-Key")
        try:
            response = await self._process(request, handler, kind, retry_key)
        except _LineError as err:
            response = err.response()
        response.headers["x-line-request-id"] = request_id
        response_json = None
        if isinstance(response, web.Response) and response.content_type == "application/json":
            response_json = _decode_json(response.body if isinstance(response.body, bytes) else b"")
        is_json = "json" in request.headers.get("Content-Type", "")
        self.calls.append(
            ApiCall(
                method=request.method,
                path=request.path,
                kind=kind,
                status=response.status,
                headers=dict(request.headers),
                body=_decode_json(raw) if is_json else None,
                raw=raw,
                response=response_json,
                retry_key=retry_key,
                request_id=request_id,
                at=time.time(),
            )
        )
        return response

    async def _process(
        self, request: web.Request, handler: _RouteHandler, kind: str | None, retry_key: str | None
    ) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            raise _LineError(401, {"message": AUTH_FAILED})
        if retry_key is not None and kind is not None and kind not in _RETRY_KEY_KINDS:
            raise _LineError(400, {"message": "X-Line-Retry-Key is not supported by this API"})
        if kind is not None:
            delays = self._delays.get(kind)
            if delays:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delays.popleft())
            faults = self._faults.get(kind)
            fault = faults.popleft() if faults else None
        else:
            fault = None
        if fault is not None and not fault.processed:
            raise _LineError(fault.status, fault.body)
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # unknown path / wrong method from the router
            raise _LineError(
                exc.status, {"message": "Not found" if exc.status == 404 else exc.reason}
            ) from None
        if fault is not None:
            raise _LineError(fault.status, fault.body)
        return response

    @staticmethod
    async def _json_body(request: web.Request) -> JSONDict:
        try:
            body = json.loads(await request.read())
        except (UnicodeDecodeError, ValueError):
            raise _LineError(400, {"message": "The request body could not be parsed as JSON"}) from None
        if not isinstance(body, dict):
            raise _LineError(400, {"message": "The request body could not be parsed as JSON"})
        return body

    def _deliver(
        self,
        via: str,
        to: str,
        messages: list[JSONDict],
        *,
        retry_key: str | None = None,
        reply_token: str | None = None,
    ) -> list[JSONDict]:
        sent = []
        for message in messages:
            entry: JSONDict = {"id": self._message_id()}
            # Only messages a user could quote get a quote token back.
            if message.get("type") in ("text", "image", "video", "sticker"):
                entry["quoteToken"] = self._quote_token()
            sent.append(entry)
        self.delivered.append(
            Delivered(
                via=via,
                to=to,
                messages=copy.deepcopy(messages),
                retry_key=retry_key,
                at=time.time(),
                request_id=_current_request_id.get(),
                reply_token=reply_token,
                sent_messages=sent,
            )
        )
        return sent

    def _quota_used(self) -> int:
        # Replies are free; every push/multicast recipient counts once, however many bubbles.
        return sum(1 for d in self.delivered if d.via in ("push", "multicast"))

    def _check_quota(self, recipients: int) -> None:
        if self.quota_limit is not None and self._quota_used() + recipients > self.quota_limit:
            raise _LineError(429, {"message": "You have reached your monthly limit."})

    def _check_retry_key(self, retry_key: str | None) -> None:
        if retry_key is None:
            return
        if not _UUID_RE.fullmatch(retry_key):
            raise _LineError(400, {"message": "The value of the X-Line-Retry-Key header is invalid"})
        accepted = self._retry_keys.get(retry_key.lower())
        if accepted is not None:
            raise _LineError(
                409,
                {"message": "The retry key is already accepted", "sentMessages": accepted.sent_messages},
                {"x-line-accepted-request-id": accepted.request_id},
            )

    # ------------------------------------------------------------------ handlers: messages

    async def _reply(self, request: web.Request) -> web.StreamResponse:
        body = await self._json_body(request)
        token = body.get("replyToken")
        if not isinstance(token, str) or not token:
            raise _body_error([("must be specified", "replyToken")])
        _validate_messages(body)
        issued = self._reply_tokens.get(token)
        if issued is None or issued.used or time.monotonic() - issued.issued_at > self.reply_token_ttl:
            raise _LineError(400, {"message": "Invalid reply token"})
        issued.used = True
        sent = self._deliver("reply", issued.chat_id, body["messages"], reply_token=token)
        return web.json_response({"sentMessages": sent})

    async def _push(self, request: web.Request) -> web.StreamResponse:
        retry_key = request.headers.get("X-Line-Retry-Key")
        self._check_retry_key(retry_key)
        body = await self._json_body(request)
        to = body.get("to")
        if to is None:
            raise _body_error([("must be specified", "to")])
        if not isinstance(to, str) or not _CHAT_ID_RE.fullmatch(to):
            raise _LineError(
                400, {"message": "The property, 'to', in the request body is invalid (line: -, column: -)"}
            )
        _validate_messages(body)
        self._check_quota(1)
        sent = self._deliver("push", to, body["messages"], retry_key=retry_key)
        if retry_key is not None:
            self._retry_keys[retry_key.lower()] = _AcceptedRetryKey(_current_request_id.get(), sent)
        return web.json_response({"sentMessages": sent})

    async def _multicast(self, request: web.Request) -> web.StreamResponse:
        retry_key = request.headers.get("X-Line-Retry-Key")
        self._check_retry_key(retry_key)
        body = await self._json_body(request)
        to = body.get("to")
        if not isinstance(to, list) or not 1 <= len(to) <= MAX_MULTICAST_RECIPIENTS:
            raise _body_error([(f"Size must be between 1 and {MAX_MULTICAST_RECIPIENTS}", "to")])
        bad = [
            f"to[{i}]"
            for i, user in enumerate(to)
            if not isinstance(user, str) or not _USER_ID_RE.fullmatch(user)
        ]
        if bad:
            raise _body_error([("must be a valid user ID", prop) for prop in bad])
        _validate_messages(body)
        self._check_quota(len(to))
        for user in to:
            self._deliver("multicast", user, body["messages"], retry_key=retry_key)
        if retry_key is not None:
            self._retry_keys[retry_key.lower()] = _AcceptedRetryKey(_current_request_id.get(), [])
        return web.json_response({})

    async def _validate(self, request: web.Request) -> web.StreamResponse:
        _validate_messages(await self._json_body(request))
        return web.json_response({})

    async def _quota(self, request: web.Request) -> web.StreamResponse:
        if self.quota_limit is None:
            return web.json_response({"type": "none"})
        return web.json_response({"type": "limited", "value": self.quota_limit})

    async def _quota_consumption(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"totalUsage": self._quota_used()})

    async def _content(self, request: web.Request) -> web.StreamResponse:
        content = self.contents.get(request.match_info["messageId"])
        if content is None:
            raise _not_found()
        return web.Response(body=content.data, content_type=content.content_type)

    async def _transcoding(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["messageId"] not in self.contents:
            raise _not_found()
        return web.json_response({"status": "succeeded"})

    async def _profile(self, request: web.Request) -> web.StreamResponse:
        profile = self.profiles.get(request.match_info["userId"])
        if profile is None:
            raise _not_found()
        return web.json_response(profile)

    async def _group_summary(self, request: web.Request) -> web.StreamResponse:
        group = self.groups.get(request.match_info["groupId"])
        if group is None:
            raise _not_found()
        return web.json_response(group)

    async def _loading(self, request: web.Request) -> web.StreamResponse:
        body = await self._json_body(request)
        chat_id, seconds = body.get("chatId"), body.get("loadingSeconds", 20)
        details: list[_Detail] = []
        # The loading animation only exists in one-on-one chats.
        if not isinstance(chat_id, str) or not _USER_ID_RE.fullmatch(chat_id):
            details.append(("must be a valid user ID", "chatId"))
        if not isinstance(seconds, int) or not 5 <= seconds <= 60 or seconds % 5:
            details.append(("must be a multiple of 5 between 5 and 60", "loadingSeconds"))
        if details:
            raise _body_error(details)
        return web.json_response({}, status=202)

    async def _bot_info(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "userId": self.destination,
                "basicId": "@000fake",
                "displayName": "Damrongtham (fake)",
                "chatMode": "bot",
                "markAsReadMode": "auto",
            }
        )

    # ------------------------------------------------------------------ handlers: rich menus

    def _rich_menu(self, request: web.Request) -> tuple[str, JSONDict]:
        menu_id = request.match_info["richMenuId"]
        menu = self.rich_menus.get(menu_id)
        if menu is None:
            raise _not_found()
        return menu_id, menu

    async def _richmenu_create(self, request: web.Request) -> web.StreamResponse:
        body = await self._json_body(request)
        _validate_rich_menu(body)
        menu_id = "richmenu-" + secrets.token_hex(16)
        self.rich_menus[menu_id] = {"richMenuId": menu_id, **copy.deepcopy(body)}
        return web.json_response({"richMenuId": menu_id})

    async def _richmenu_list(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"richmenus": list(self.rich_menus.values())})

    async def _richmenu_get(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._rich_menu(request)[1])

    async def _richmenu_delete(self, request: web.Request) -> web.StreamResponse:
        menu_id, _ = self._rich_menu(request)
        del self.rich_menus[menu_id]
        self.rich_menu_images.pop(menu_id, None)
        if self.default_rich_menu_id == menu_id:
            self.default_rich_menu_id = None
        self.user_rich_menus = {u: m for u, m in self.user_rich_menus.items() if m != menu_id}
        return web.json_response({})

    async def _richmenu_upload(self, request: web.Request) -> web.StreamResponse:
        menu_id, menu = self._rich_menu(request)
        content_type = request.content_type
        if content_type not in ("image/png", "image/jpeg"):
            raise _LineError(415, {"message": "Unsupported media type"})
        if menu_id in self.rich_menu_images:
            # LINE never replaces a rich menu image: create a new rich menu instead.
            raise _LineError(400, {"message": "An image has already been uploaded to the richmenu"})
        data = await request.read()
        if len(data) > MAX_RICH_MENU_IMAGE_BYTES:
            raise _LineError(413, {"message": "Request Entity Too Large"})
        size = _image_size(data, content_type)
        if size is None:
            raise _LineError(400, {"message": f"The image is not a valid {content_type} image"})
        expected = (menu["size"]["width"], menu["size"]["height"])
        if size != expected:
            raise _LineError(
                400,
                {
                    "message": f"Image size {size[0]}x{size[1]} must match the rich menu size {expected[0]}x"
                    f"{expected[1]}"
                },
            )
        self.rich_menu_images[menu_id] = StoredBlob(data, content_type)
        return web.json_response({})

    async def _richmenu_download(self, request: web.Request) -> web.StreamResponse:
        image = self.rich_menu_images.get(self._rich_menu(request)[0])
        if image is None:
            raise _not_found()
        return web.Response(body=image.data, content_type=image.content_type)

    def _applicable_rich_menu(self, request: web.Request) -> str:
        menu_id, _ = self._rich_menu(request)
        if menu_id not in self.rich_menu_images:
            raise _LineError(400, {"message": "must upload richmenu image before applying it to user"})
        return menu_id

    async def _default_set(self, request: web.Request) -> web.StreamResponse:
        self.default_rich_menu_id = self._applicable_rich_menu(request)
        return web.json_response({})

    async def _default_get(self, request: web.Request) -> web.StreamResponse:
        if self.default_rich_menu_id is None:
            raise _LineError(404, {"message": "no default richmenu"})
        return web.json_response({"richMenuId": self.default_rich_menu_id})

    async def _default_delete(self, request: web.Request) -> web.StreamResponse:
        self.default_rich_menu_id = None
        return web.json_response({})

    async def _user_link(self, request: web.Request) -> web.StreamResponse:
        user_id = request.match_info["userId"]
        if not _USER_ID_RE.fullmatch(user_id):
            raise _LineError(400, {"message": "The value for the 'userId' parameter is invalid"})
        self.user_rich_menus[user_id] = self._applicable_rich_menu(request)
        return web.json_response({})
