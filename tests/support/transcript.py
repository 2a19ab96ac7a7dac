"""Dialogues with strict answers, played on the console engine, on Telegram and on LINE.

A dialogue is a list of `Step`s: what the user sends (text, `Press("label")`, `Photo`, `Location`)
and exactly the replies that come back, each a `Said(fragment, buttons)`. A step passes only when
the number of replies, each reply's text fragment and each reply's button labels (row by row,
flattened) all match; otherwise it fails with both sides written out.

    await play(driver, [
        Step("/start", Said("กรุณาเลือกเรื่องที่ต้องการแจ้ง", buttons=[...])),
        Step(Press("ร้องเรียน"), Said("เกี่ยวข้องกับบุคลากร", buttons=["ใช่", "ไม่ใช่", "ไม่แน่ใจ"])),
    ])

A driver turns each input into the channel's own update and returns what the user saw as `Seen`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from kernel.i18n import t
from tests.fakes.fake_bot_api import FakeBotApi
from tests.fakes.fake_line_api import FakeLineApi
from tests.support.chat import Chat
from tests.support.inputs import Location, Photo, Press, Video, Voice

Sent = str | Press | Photo | Voice | Video | Location
ANY_BUTTONS = None  # Said(..., buttons=ANY_BUTTONS): the buttons are not checked


@dataclass(frozen=True)
class Said:
    """One reply: its text contains `text` (or the i18n text of `key`); its buttons are exactly these."""

    text: str = ""
    buttons: list[str] | None = field(default_factory=list)
    key: str | None = None
    lang: str = "th"

    @property
    def fragment(self) -> str:
        return t(self.lang, self.key) if self.key else self.text


@dataclass(frozen=True)
class Seen:
    """One message as the user saw it: its text and its button labels."""

    text: str
    buttons: list[str]


@dataclass(frozen=True)
class Step:
    send: Sent
    replies: tuple[Said, ...]

    def __init__(self, send: Sent, *replies: Said) -> None:
        object.__setattr__(self, "send", send)
        object.__setattr__(self, "replies", replies)


class Driver(Protocol):
    name: str

    async def send(self, what: Sent, expected: int) -> list[Seen]:
        """Send one thing; the messages that came back (waits for `expected`, then for stragglers)."""
        ...


def _mismatch(step: Step, seen: list[Seen]) -> str | None:
    if len(seen) != len(step.replies):
        return f"{len(step.replies)} replies expected, {len(seen)} came"
    for n, (want, got) in enumerate(zip(step.replies, seen, strict=True), 1):
        if want.fragment not in got.text:
            return f"reply {n}: {want.fragment!r} is not in its text"
        if want.buttons is not None and want.buttons != got.buttons:
            return f"reply {n}: buttons {got.buttons} instead of {want.buttons}"
    return None


def _written(step: Step, seen: list[Seen]) -> str:
    lines = ["expected:"]
    lines += [f"  - {s.fragment!r} buttons={s.buttons}" for s in step.replies]
    lines.append("came:")
    lines += [f"  - {s.text!r} buttons={s.buttons}" for s in seen] or ["  (nothing)"]
    return "\n".join(lines)


async def play(driver: Driver, dialogue: list[Step]) -> None:
    for n, step in enumerate(dialogue, 1):
        seen = await driver.send(step.send, len(step.replies))
        problem = _mismatch(step, seen)
        assert problem is None, f"[{driver.name}] step {n}, after {step.send!r}: {problem}\n" + _written(
            step, seen
        )


def _find(label: str, labels: list[str]) -> int:
    exact = [i for i, text in enumerate(labels) if text == label]
    partial = [i for i, text in enumerate(labels) if label in text]
    if not (exact or partial):
        raise AssertionError(f"no button {label!r} in {labels}")
    return (exact or partial)[0]


async def _settle(count: Any, expected: int, within: float = 10.0) -> None:
    """Wait until `count()` reaches `expected`, then a little longer so an extra reply is caught."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    for _ in range(int(within / 0.02)):
        if count() >= expected or loop.time() > deadline:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.15)


class ConsoleDriver:
    """The in-process engine through the real outbox, as the unit tests and `damrongtham console` run it."""

    name = "console"

    def __init__(self, chat: Chat) -> None:
        self.chat = chat

    async def send(self, what: Sent, expected: int) -> list[Seen]:
        replies = await self.chat.send(what)
        return [Seen(r.text, [b.label for row in r.buttons for b in row]) for r in replies]


class TelegramDriver:
    """A private chat through the stand-in Bot API and the real python-telegram-bot adapter.

    A press of a reply-keyboard button (the location step's "skip") sends its label, as Telegram does."""

    name = "telegram"

    def __init__(self, api: FakeBotApi, chat_id: int, *, language_code: str = "th") -> None:
        self.api, self.chat_id, self.language_code = api, chat_id, language_code

    @staticmethod
    def _labels(reply_markup: dict[str, Any] | None) -> list[str]:
        markup = reply_markup or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [str(b["text"]) for row in rows for b in row]

    def _press(self, label: str) -> None:
        for msg in reversed(self.api.messages_to(self.chat_id)):
            markup = msg.reply_markup or {}
            if markup.get("inline_keyboard"):
                buttons = msg.buttons
                self.api.press(
                    self.chat_id,
                    str(buttons[_find(label, [str(b["text"]) for b in buttons])]["callback_data"]),
                    language_code=self.language_code,
                )
                return
            if markup.get("keyboard"):
                labels = self._labels(markup)
                self.api.send_text(
                    self.chat_id, labels[_find(label, labels)], language_code=self.language_code
                )
                return
        raise AssertionError(f"no message with buttons in chat {self.chat_id}")

    async def send(self, what: Sent, expected: int) -> list[Seen]:
        before = len(self.api.messages_to(self.chat_id))
        kw = {"language_code": self.language_code}
        if isinstance(what, str):
            self.api.send_text(self.chat_id, what, **kw)
        elif isinstance(what, Press):
            self._press(what.label)
        elif isinstance(what, Photo):
            self.api.send_photo(self.chat_id, file_id=what.file_id, caption=what.caption, **kw)
        elif isinstance(what, Voice):
            self.api.send_voice(self.chat_id, what.file_id, file_size=what.size, **kw)
        elif isinstance(what, Video):
            self.api.send_media(self.chat_id, "video", what.file_id, what.size, what.caption, **kw)
        elif isinstance(what, Location):
            self.api.send_location(self.chat_id, what.latitude, what.longitude, **kw)
        else:
            raise TypeError(what)
        await _settle(lambda: len(self.api.messages_to(self.chat_id)) - before, expected)
        return [
            Seen(m.text or "", self._labels(m.reply_markup))
            for m in self.api.messages_to(self.chat_id)[before:]
        ]


class LineDriver:
    """A LINE user through signed webhooks into `damrongtham serve` and the stand-in LINE API.

    Buttons are quick-reply items; a press posts the item's postback data (or sends a message
    action's text)."""

    name = "line"

    def __init__(self, api: FakeLineApi, webhook: str, user_id: str | None = None) -> None:
        self.api, self.webhook = api, webhook
        self.user = user_id or FakeLineApi.new_user_id()

    @staticmethod
    def _items(message: dict[str, Any]) -> list[dict[str, Any]]:
        return list((message.get("quickReply") or {}).get("items") or [])

    @staticmethod
    def _label(item: dict[str, Any]) -> str:
        action = item["action"]
        return str(action.get("displayText") or action.get("label") or "")

    def _press(self, label: str) -> dict[str, Any]:
        for message in reversed(self.api.messages_to(self.user)):
            items = self._items(message)
            if items:
                action = items[_find(label, [self._label(i) for i in items])]["action"]
                if action["type"] == "postback":
                    return self.api.make_event_postback(self.user, str(action["data"]))
                return self.api.make_event_text(self.user, str(action.get("text") or action["label"]))
        raise AssertionError(f"no message with quick replies to {self.user}")

    async def send(self, what: Sent, expected: int) -> list[Seen]:
        before = len(self.api.messages_to(self.user))
        if isinstance(what, str):
            event = self.api.make_event_text(self.user, what)
        elif isinstance(what, Press):
            event = self._press(what.label)
        elif isinstance(what, Location):
            event = self.api.make_event_location(self.user, what.latitude, what.longitude)
        elif isinstance(what, Photo):
            event = self.api.make_event_image(self.user, what.file_id, content=b"\xff\xd8\xff\xe0 photo")
        elif isinstance(what, Voice | Video):
            kind = "audio" if isinstance(what, Voice) else "video"
            event = self.api.make_event_media(
                self.user, what.file_id, kind, content=f"{kind} {what.file_id}".encode()
            )
        else:
            raise TypeError(what)
        assert await self.api.post_webhook(self.webhook, [event]) == 200
        await _settle(lambda: len(self.api.messages_to(self.user)) - before, expected)
        return [
            Seen(str(m.get("text", f"<{m.get('type')}>")), [self._label(i) for i in self._items(m)])
            for m in self.api.messages_to(self.user)[before:]
        ]
