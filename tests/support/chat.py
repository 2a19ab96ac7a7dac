"""One citizen's or staff member's chat with the in-process engine, through the real outbox."""

from __future__ import annotations

import itertools
from typing import Any

from bot.outbox import OutboxDispatcher
from handlers.engine import Engine
from kernel.messages import FileRef, Incoming, Reply
from tests.support.inputs import Contact, Document, Location, Photo, Press, Sticker, Video, Voice
from tests.support.sender import RecordingSender

_UPDATE_IDS = itertools.count(1)  # unique across every chat of a test, like Telegram's update ids


class Chat:
    """One citizen's private chat with the engine, through the real outbox."""

    def __init__(
        self,
        engine: Engine,
        dispatcher: OutboxDispatcher,
        sender: RecordingSender,
        *,
        chat_id: str = "1001",
        chat_type: str = "private",
        channel: str = "test",
        user_id: str | None = None,
        user_name: str | None = None,
    ) -> None:
        self.engine, self.dispatcher, self.sender = engine, dispatcher, sender
        self.chat_id, self.chat_type, self.channel = chat_id, chat_type, channel
        self.user_id, self.user_name = user_id or chat_id, user_name
        self.update_no = 0
        self.last_buttons: dict[str, str] = {}

    def incoming(self, what: Any, *, update_key: str | None = None) -> Incoming:
        self.update_no += 1
        base: dict[str, Any] = {
            "channel": self.channel,
            "chat_id": self.chat_id,
            "user_id": self.user_id,
            "user_name": self.user_name,
            "chat_type": self.chat_type,
            "update_key": update_key or f"u{next(_UPDATE_IDS)}",
        }
        if isinstance(what, str):
            return Incoming(**base, text=what)
        if isinstance(what, Press):
            exact = [p for label, p in self.last_buttons.items() if what.label == label]
            matches = exact or [p for label, p in self.last_buttons.items() if what.label in label]
            assert matches, f"no button with {what.label!r} in {list(self.last_buttons)}"
            return Incoming(**base, payload=matches[0])
        if isinstance(what, Photo):
            ref = FileRef("photo", what.file_id, what.file_id + "u", None, None, what.size)
            return Incoming(**base, file=ref, caption=what.caption)
        if isinstance(what, Voice):
            return Incoming(
                **base, file=FileRef("voice", what.file_id, what.file_id + "u", None, "audio/ogg", what.size)
            )
        if isinstance(what, Video):
            ref = FileRef("video", what.file_id, what.file_id + "u", None, "video/mp4", what.size)
            return Incoming(**base, file=ref, caption=what.caption)
        if isinstance(what, Document):
            ref = FileRef("document", what.file_id, what.file_id + "u", what.name, what.mime, what.size)
            return Incoming(**base, file=ref)
        if isinstance(what, Location):
            return Incoming(**base, location=(what.latitude, what.longitude))
        if isinstance(what, Contact):
            return Incoming(**base, contact_phone=what.phone, contact_is_own=what.own)
        if isinstance(what, Sticker):
            return Incoming(**base, unsupported="sticker")
        if isinstance(what, Incoming):
            return what
        raise TypeError(what)

    async def send(self, what: Any, *, update_key: str | None = None) -> list[Reply]:
        """Send one thing; returns the replies delivered to this chat because of it."""
        before = len(self.sender.to(self.chat_id))
        await self.engine.handle(self.incoming(what, update_key=update_key))
        await self.dispatcher.drain()
        replies = self.sender.to(self.chat_id)[before:]
        for reply in replies:
            if reply.buttons:
                self.last_buttons = reply.button_payloads()
        return replies

    def look(self) -> None:
        """Take the buttons of the latest message in this chat (a card posted earlier, say)."""
        for reply in reversed(self.sender.to(self.chat_id)):
            if reply.buttons:
                self.last_buttons = reply.button_payloads()
                return
        raise AssertionError(f"no message with buttons in chat {self.chat_id}")

    async def say(self, what: Any) -> str:
        """Send and return all reply texts joined, for `in` assertions."""
        return "\n".join(r.text for r in await self.send(what))

    async def play(self, dialogue: list[tuple[Any, str]]) -> None:
        """A transcript: each line is (what the user sends, text expected in the answer)."""
        for what, expected in dialogue:
            answer = await self.say(what)
            assert expected in answer, f"after {what!r} expected {expected!r} in:\n{answer}"
