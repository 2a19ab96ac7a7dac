"""LINE adapter (line-bot-sdk v3, async): webhook events in, outbox messages out. Translation only.

Replies use the event's reply token first (free); once it has expired or been used, messages are
pushed with an X-Line-Retry-Key derived from the outbox row, so a retried push is never delivered
twice (LINE answers 409 for a key it already accepted).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    ImageMessage,
    LocationAction,
    LocationMessage,
    Message,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.messaging.exceptions import ApiException

from bot.outbox import PermanentFailure, RetryLater
from kernel.messages import Button, FileRef, Incoming, Reply

log = logging.getLogger(__name__)
CHANNEL = "line"
QUICK_REPLY_MAX = 13  # LINE's limit per message
LABEL_MAX = 20  # LINE's limit for a quick reply label
REPLY_TOKEN_SECONDS = 50  # tokens live about a minute; keep a margin
RETRY_NAMESPACE = uuid.UUID("6f1c1a52-8a4e-4d2b-9c55-2f0c1d7e9a31")
UNSUPPORTED = {"sticker": "sticker", "audio": "voice", "video": "video"}
EVIDENCE_ELSEWHERE = "หลักฐานเก็บไว้ในระบบ ขอดูได้จากผู้ดูแลระบบ / evidence is stored; ask the administrator"
MAX_FETCH = 20 * 1024 * 1024


def valid_signature(body: bytes, signature: str, channel_secret: str) -> bool:
    """LINE signs the raw body: base64(HMAC-SHA256(secret, body)), compared in constant time."""
    digest = hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest), signature.encode())


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit_label(label: str, limit: int = LABEL_MAX) -> str:
    """LINE counts label length in UTF-16 units (an emoji is two): cut to fit, with an ellipsis."""
    if _utf16_len(label) <= limit:
        return label
    while label and _utf16_len(label) > limit - 1:
        label = label[:-1]
    return label + "…"


def lane(event: dict[str, Any]) -> str:
    """The chat an event belongs to: the inbox keeps each chat's order."""
    return chat_of(event.get("source") or {})[0]


def chat_of(source: dict[str, Any]) -> tuple[str, str]:
    """(chat id, chat type) of an event's source: a user's chat, a group or a room."""
    kind = source.get("type")
    if kind == "group":
        return str(source.get("groupId")), "group"
    if kind == "room":
        return str(source.get("roomId")), "group"
    return str(source.get("userId")), "private"


class LineChannel:
    """The LINE side: turns events into `Incoming`, and sends replies (a `Sender` for the outbox)."""

    def __init__(
        self,
        *,
        access_token: str,
        api_base_url: str,
        data_api_base_url: str,
        files_dir: Path,
        on_quota: Callable[[], Awaitable[None]] | None = None,
        file_url: Callable[[str], str | None] = lambda _sha: None,
    ) -> None:
        # a signed public https address for a stored file, when the server has one
        self.file_url = file_url
        self._api_config = Configuration(host=api_base_url, access_token=access_token)
        self._data_config = Configuration(host=data_api_base_url, access_token=access_token)
        self.files_dir = files_dir
        self.on_quota = on_quota
        self._tokens: dict[str, tuple[str, float]] = {}
        self._quota_reported = False
        # long button lists shown a page at a time: the last such list per chat
        self._pages: dict[str, Reply] = {}

    # --- incoming ---------------------------------------------------------------------

    async def to_incoming(self, event: dict[str, Any]) -> Incoming | None:
        source = event.get("source") or {}
        chat_id, chat_type = chat_of(source)
        user_id = str(source.get("userId") or chat_id)
        if event.get("replyToken"):
            self._tokens[chat_id] = (str(event["replyToken"]), time.monotonic())
        base: dict[str, Any] = {
            "channel": CHANNEL,
            "chat_id": chat_id,
            "user_id": user_id,
            "chat_type": chat_type,
            "update_key": str(event.get("webhookEventId") or _event_digest(event)),
        }
        event_type = event.get("type")
        if event_type == "postback":
            data = str((event.get("postback") or {}).get("data", ""))
            if data.startswith("lp.") and data[3:].isdigit():
                await self._next_page(chat_id, int(data[3:]))
                return None
            return Incoming(**base, payload=data)
        if event_type == "follow":
            return Incoming(**base, text="/start")
        if event_type != "message":
            return None  # join, leave, unfollow, read receipts...
        message = event.get("message") or {}
        mtype = message.get("type")
        if mtype == "text":
            return Incoming(**base, text=str(message.get("text", "")))
        if mtype == "location":
            return Incoming(**base, location=(float(message["latitude"]), float(message["longitude"])))
        if mtype in ("image", "file"):
            kind: Literal["photo", "document"] = "photo" if mtype == "image" else "document"
            size = message.get("fileSize")
            if chat_type != "private" or (isinstance(size, int) and size > MAX_FETCH):
                # group photos are not evidence, and an oversized file is refused by the conversation
                ref = FileRef(kind, f"line-msg:{message['id']}", None, message.get("fileName"), None, size)
                return Incoming(**base, file=ref)
            try:
                ref = await self._fetch(str(message["id"]), kind, message.get("fileName"))
            except Exception:
                log.exception("could not fetch a LINE file; the user is asked to send it again")
                return Incoming(**base, unsupported="file_unavailable")
            return Incoming(**base, file=ref)
        return Incoming(**base, unsupported=UNSUPPORTED.get(str(mtype), str(mtype)))

    async def _fetch(
        self, message_id: str, kind: Literal["photo", "document"], file_name: str | None
    ) -> FileRef:
        # LINE keeps content for a limited time only: fetch and keep it now, under its SHA-256.
        async with AsyncApiClient(self._data_config) as client:
            data = bytes(await AsyncMessagingApiBlob(client).get_message_content(message_id))
        sha = hashlib.sha256(data).hexdigest()
        self.files_dir.mkdir(parents=True, exist_ok=True)
        path = self.files_dir / sha
        if not path.exists():
            partial = path.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(path)  # atomic: a crash never leaves a truncated file under the hash
        mime = "image/jpeg" if kind == "photo" else None
        return FileRef(kind, f"line:{sha}", sha, file_name, mime, len(data), sha256=sha)

    # --- outgoing ---------------------------------------------------------------------

    def to_messages(self, reply: Reply) -> list[Message]:
        media = reply.media
        if media is not None and media.kind == "location":
            return [
                LocationMessage(
                    title=media.caption or "ตำแหน่งที่แจ้ง",
                    address=f"{media.latitude:.5f}, {media.longitude:.5f}",
                    latitude=media.latitude or 0.0,
                    longitude=media.longitude or 0.0,
                )
            ]
        if media is not None:
            file_id = media.file_id or ""
            url = self.file_url(file_id[5:]) if file_id.startswith("line:") else None
            if url is not None and media.kind == "photo":
                return [ImageMessage(originalContentUrl=url, previewImageUrl=url)]
            # LINE shows files only from a public https address; without one, say where it is
            text = f"📎 {media.caption or ''}\n{url or '(' + EVIDENCE_ELSEWHERE + ')'}".strip()
            return [TextMessage(text=text, quickReply=None)]
        return [TextMessage(text=reply.text[:5000] or "-", quickReply=self._quick_reply(reply.buttons))]

    def _page(self, chat_id: str, reply: Reply, page: int) -> Reply:
        """A list longer than LINE's 13 quick replies: 12 per page and a "more" button."""
        buttons = [b for row in reply.buttons for b in row if b.kind != "contact"]
        if len(buttons) <= QUICK_REPLY_MAX:
            return reply
        self._pages[chat_id] = reply
        per = QUICK_REPLY_MAX - 1
        shown = buttons[page * per : (page + 1) * per]
        more = (page + 1) * per < len(buttons)
        rows = [[b] for b in shown] + ([[Button("ถัดไป / More ›", f"lp.{page + 1}")]] if more else [])
        return Reply(text=reply.text, buttons=rows, idempotency_key=f"{reply.idempotency_key}-p{page}")

    async def _next_page(self, chat_id: str, page: int) -> None:
        reply = self._pages.get(chat_id)
        if reply is not None:
            await self.send(chat_id, reply, page=page)

    def _quick_reply(self, rows: list[list[Button]]) -> QuickReply | None:
        buttons = [b for row in rows for b in row if b.kind != "contact"][:QUICK_REPLY_MAX]
        if not buttons:
            return None
        items = []
        for b in buttons:
            label = fit_label(b.label)
            action: PostbackAction | LocationAction
            if b.kind == "location":
                action = LocationAction(label=label)
            else:
                action = PostbackAction(label=label, data=b.payload, displayText=b.label[:300])
            items.append(QuickReplyItem(action=action))
        return QuickReply(items=items)

    def _fresh_token(self, chat_id: str) -> str | None:
        token = self._tokens.get(chat_id)
        if token is None or time.monotonic() - token[1] > REPLY_TOKEN_SECONDS:
            return None
        return token[0]

    async def send(self, chat_id: str, reply: Reply, *, page: int = 0) -> str | None:
        reply = self._page(chat_id, reply, page)
        messages = self.to_messages(reply)
        async with AsyncApiClient(self._api_config) as client:
            api = AsyncMessagingApi(client)
            token = self._fresh_token(chat_id)
            if token is not None:
                self._tokens.pop(chat_id, None)  # a token is good for one call
                try:
                    response = await api.reply_message(
                        ReplyMessageRequest(replyToken=token, messages=messages)
                    )
                    return _first_id(response)
                except ApiException as exc:
                    if exc.status != 400:
                        raise self._translate(exc) from exc
                    # expired or used after all: push instead
            # one key per outbox message, the same for each of its attempts (a message sent outside
            # the outbox gets a fresh key)
            retry_key = (
                str(uuid.uuid5(RETRY_NAMESPACE, reply.idempotency_key))
                if reply.idempotency_key
                else str(uuid.uuid4())
            )
            try:
                response = await api.push_message(
                    PushMessageRequest(to=chat_id, messages=messages), x_line_retry_key=retry_key
                )
            except ApiException as exc:
                if exc.status == 409:
                    return None  # accepted before: a retry of a push that went through
                raise await self._translate_async(exc) from exc
            self._quota_reported = False  # pushes go through again: a later exhaustion is reported anew
            return _first_id(response)

    def _translate(self, exc: ApiException) -> Exception:
        if exc.status == 429:
            return RetryLater(5)
        if exc.status is not None and 400 <= exc.status < 500:
            return PermanentFailure(f"LINE {exc.status}")
        return ConnectionError(f"LINE {exc.status}")  # a server error: the outbox backs off and retries

    async def _translate_async(self, exc: ApiException) -> Exception:
        body = (exc.body or "") if isinstance(exc.body, str) else str(exc.body or "")
        if exc.status == 429 and "monthly limit" in body.lower():
            # The push quota is spent for the month: hold messages, say so once.
            if not self._quota_reported:
                self._quota_reported = True
                log.error("LINE monthly push quota reached; messages wait until it is raised")
                if self.on_quota is not None:
                    await self.on_quota()
            return RetryLater(3600)
        return self._translate(exc)


def _event_digest(event: dict[str, Any]) -> str:
    import json

    return hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()


def _first_id(response: Any) -> str | None:
    sent = getattr(response, "sent_messages", None) or []
    return str(sent[0].id) if sent else None


RICH_MENU_AREAS = ("m.corruption", "m.grievance", "m.track", "m.lang")  # left to right, as in the image


async def setup_rich_menu(
    *, access_token: str, api_base_url: str, data_api_base_url: str, image: bytes
) -> str:
    """Create the default rich menu (report corruption, file a grievance, track, language)."""
    from linebot.v3.messaging import RichMenuArea, RichMenuBounds, RichMenuRequest, RichMenuSize

    width, height = 2500, 843
    cell = width // len(RICH_MENU_AREAS)
    areas = [
        RichMenuArea(
            bounds=RichMenuBounds(x=i * cell, y=0, width=cell, height=height),
            action=PostbackAction(label=data.removeprefix("m."), data=data),
        )
        for i, data in enumerate(RICH_MENU_AREAS)
    ]
    request = RichMenuRequest(
        size=RichMenuSize(width=width, height=height),
        selected=True,
        name="damrongtham-main",
        chatBarText="เมนู / Menu",
        areas=areas,
    )
    async with AsyncApiClient(Configuration(host=api_base_url, access_token=access_token)) as client:
        menu_id = str((await AsyncMessagingApi(client).create_rich_menu(request)).rich_menu_id)
    async with AsyncApiClient(Configuration(host=data_api_base_url, access_token=access_token)) as client:
        # the SDK sends no content type of its own for the image
        await AsyncMessagingApiBlob(client).set_rich_menu_image(
            menu_id, image, _headers={"Content-Type": "image/png"}
        )
    async with AsyncApiClient(Configuration(host=api_base_url, access_token=access_token)) as client:
        await AsyncMessagingApi(client).set_default_rich_menu(menu_id)
    return menu_id
