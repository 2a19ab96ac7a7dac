"""LINE adapter (line-bot-sdk v3, async): webhook events in, outbox messages out. Translation only.

Replies use the event's reply token first (free); once it has expired or been used, messages are
pushed with an X-Line-Retry-Key derived from the outbox row, so a retried push is never delivered
twice (LINE answers 409 for a key it already accepted).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias

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
from linebot.v3.webhooks import (
    AudioMessageContent,
    Event,
    FileMessageContent,
    FollowEvent,
    GroupSource,
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    RoomSource,
    Source,
    TextMessageContent,
    VideoMessageContent,
)

from bot.channels.base import PermanentFailure, RetryLater
from kernel import payloads
from kernel.messages import Button, FileKind, FileRef, Incoming, Reply, held_sha
from storage import line_pages
from storage.crypto import Vault
from storage.db import Database
from storage.files import FileStore

log = logging.getLogger(__name__)
CHANNEL = "line"
QUICK_REPLY_MAX = 13  # LINE's limit per message
LABEL_MAX = 20  # LINE's limit for a quick reply label
REPLY_TOKEN_SECONDS = 50  # tokens live about a minute; keep a margin
RETRY_NAMESPACE = uuid.UUID("6f1c1a52-8a4e-4d2b-9c55-2f0c1d7e9a31")
UNSUPPORTED = {"sticker": "sticker"}
# what each kind of LINE message is kept as, and the type LINE serves its content in
FILE_MESSAGES: dict[type, tuple[FileKind, str | None]] = {
    ImageMessageContent: ("photo", "image/jpeg"),
    FileMessageContent: ("document", None),
    AudioMessageContent: ("voice", "audio/m4a"),
    VideoMessageContent: ("video", "video/mp4"),
}
FileContent: TypeAlias = ImageMessageContent | FileMessageContent | AudioMessageContent | VideoMessageContent
EVIDENCE_ELSEWHERE = "หลักฐานเก็บไว้ในระบบ ขอดูได้จากผู้ดูแลระบบ / evidence is stored; ask the administrator"
MAX_FETCH = 20 * 1024 * 1024


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
    """The chat a stored event belongs to: the inbox keeps each chat's order."""
    source = event.get("source") or {}
    key = {"group": "groupId", "room": "roomId"}.get(str(source.get("type")), "userId")
    return str(source.get(key))


def chat_of(source: Source | None) -> tuple[str, str]:
    """(chat id, chat type) of an event's source: a user's chat, a group or a room."""
    if isinstance(source, GroupSource):
        return source.group_id, "group"
    if isinstance(source, RoomSource):
        return source.room_id, "group"
    return str(getattr(source, "user_id", None)), "private"


class LineChannel:
    """The LINE side: turns events into `Incoming`, and sends replies (a `Sender` for the outbox)."""

    def __init__(
        self,
        *,
        access_token: str,
        api_base_url: str,
        data_api_base_url: str,
        files: FileStore,
        db: Database,
        vault: Vault,
        on_quota: Callable[[], Awaitable[None]] | None = None,
        file_url: Callable[[str], str | None] = lambda _sha: None,
    ) -> None:
        # a signed public https address for a stored file, when the server has one
        self.file_url = file_url
        # one HTTP session per host for the whole run (`close` at shutdown); content is on its own host
        self._client = AsyncApiClient(Configuration(host=api_base_url, access_token=access_token))
        self._data_client = AsyncApiClient(Configuration(host=data_api_base_url, access_token=access_token))
        self._api = AsyncMessagingApi(self._client)
        self._blob = AsyncMessagingApiBlob(self._data_client)
        self.files = files
        # long button lists shown a page at a time: the last such list per chat (storage.line_pages)
        self.db, self.vault = db, vault
        self.on_quota = on_quota
        self._tokens: dict[str, tuple[str, float]] = {}
        self._quota_reported = False

    async def close(self) -> None:
        await self._client.close()
        await self._data_client.close()

    async def to_incoming(self, event: Event) -> Incoming | None:
        source = event.source
        chat_id, chat_type = chat_of(source)
        reply_token = getattr(event, "reply_token", None)
        if reply_token:
            self._tokens[chat_id] = (reply_token, time.monotonic())
        base: dict[str, Any] = {
            "channel": CHANNEL,
            "chat_id": chat_id,
            "user_id": str(getattr(source, "user_id", None) or chat_id),
            "chat_type": chat_type,
            "update_key": event.webhook_event_id,
        }
        if isinstance(event, PostbackEvent):
            data = event.postback.data
            pressed = payloads.parse(data)
            if isinstance(pressed, payloads.PagePress):
                await self._next_page(chat_id, pressed.page)
                return None
            return Incoming(**base, payload=data)
        if isinstance(event, FollowEvent):
            return Incoming(**base, text="/start")
        if not isinstance(event, MessageEvent):
            return None  # join, leave, unfollow, read receipts...
        message = event.message
        if isinstance(message, TextMessageContent):
            return Incoming(**base, text=message.text)
        if isinstance(message, LocationMessageContent):
            return Incoming(**base, location=(message.latitude, message.longitude))
        if isinstance(message, FileContent):
            return await self._file_incoming(base, message, private=chat_type == "private")
        return Incoming(**base, unsupported=UNSUPPORTED.get(message.type, message.type))

    async def _file_incoming(self, base: dict[str, Any], message: FileContent, *, private: bool) -> Incoming:
        kind, mime = FILE_MESSAGES[type(message)]
        name = message.file_name if isinstance(message, FileMessageContent) else None
        size = message.file_size if isinstance(message, FileMessageContent) else None
        if not private or (size is not None and size > MAX_FETCH):
            # group photos are not evidence, and an oversized file is refused by the conversation
            return Incoming(**base, file=FileRef(kind, f"line-msg:{message.id}", None, name, None, size))
        try:
            ref = await self._fetch(message.id, kind, name, mime)
        except Exception:
            log.exception("could not fetch a LINE file; the user is asked to send it again")
            return Incoming(**base, unsupported="file_unavailable")
        return Incoming(**base, file=ref)

    async def _fetch(
        self, message_id: str, kind: FileKind, file_name: str | None, mime: str | None
    ) -> FileRef:
        # LINE keeps content for a limited time only: fetch and keep it now, under its SHA-256.
        data = bytes(await self._blob.get_message_content(message_id))
        if len(data) > MAX_FETCH:
            # a recording or video's size is known only once fetched: too large, it is not kept
            return FileRef(kind, f"line-msg:{message_id}", None, file_name, mime, len(data))
        sha = await asyncio.to_thread(self.files.put, data)
        return FileRef(kind, f"line:{sha}", sha, file_name, mime, len(data), sha256=sha)

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
            sha = held_sha(media.file_id)
            url = self.file_url(sha) if sha is not None else None
            if url is not None and media.kind == "photo":
                return [ImageMessage(originalContentUrl=url, previewImageUrl=url)]
            # LINE shows files only from a public https address; without one, say where it is
            text = f"📎 {media.caption or ''}\n{url or '(' + EVIDENCE_ELSEWHERE + ')'}".strip()
            return [TextMessage(text=text, quickReply=None)]
        return [TextMessage(text=reply.text[:5000] or "-", quickReply=self._quick_reply(reply.buttons))]

    async def _page(self, chat_id: str, reply: Reply, page: int) -> Reply:
        """A list longer than LINE's 13 quick replies: 12 per page and a "more" button."""
        buttons = [b for row in reply.buttons for b in row if b.kind != "contact"]
        if len(buttons) <= QUICK_REPLY_MAX:
            return reply
        if page == 0:  # a new list: the "more" press may reach another process
            async with self.db.session(write=True) as session:
                await line_pages.keep(session, self.vault, chat_id, reply, datetime.now(UTC))
                await session.commit()
        per = QUICK_REPLY_MAX - 1
        shown = buttons[page * per : (page + 1) * per]
        more = (page + 1) * per < len(buttons)
        rows = [[b] for b in shown] + (
            [[Button("ถัดไป / More ›", payloads.PagePress(page + 1).data)]] if more else []
        )
        return Reply(text=reply.text, buttons=rows, idempotency_key=f"{reply.idempotency_key}-p{page}")

    async def _next_page(self, chat_id: str, page: int) -> None:
        async with self.db.session() as session:
            reply = await line_pages.latest(session, self.vault, chat_id)
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
        reply = await self._page(chat_id, reply, page)
        messages = self.to_messages(reply)
        token = self._fresh_token(chat_id)
        if token is not None:
            self._tokens.pop(chat_id, None)  # a token is good for one call
            try:
                response = await self._api.reply_message(
                    ReplyMessageRequest(replyToken=token, messages=messages)
                )
                return _first_id(response)
            except ApiException as exc:
                if exc.status != 400:
                    raise self._translate(exc) from exc
                # expired or used after all: push instead
        # one key per outbox message, the same for each of its attempts (a message sent outside
        # the outbox gets a fresh key)
        key = reply.idempotency_key
        retry_key = str(uuid.uuid5(RETRY_NAMESPACE, key) if key else uuid.uuid4())
        try:
            response = await self._api.push_message(
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


def _first_id(response: Any) -> str | None:
    sent = getattr(response, "sent_messages", None) or []
    return str(sent[0].id) if sent else None
