"""What the outbox asks of a channel: send one message, and say why when it cannot."""

from __future__ import annotations

from typing import Protocol

from kernel.messages import Reply


class Sender(Protocol):
    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Deliver one message; returns the platform's id of the message that carries the buttons."""
        ...


class RetryLater(Exception):
    """The platform asked us to wait (Telegram's RetryAfter, LINE's 429)."""

    def __init__(self, seconds: float, *, ours: bool = False) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds
        # our own throttle holding a chat back is routine, not a warning
        self.ours = ours


class PermanentFailure(Exception):
    """The platform will never accept this message (chat gone, bot blocked)."""


class ChatMoved(Exception):
    """The chat has a new id (Telegram: a group upgraded to a supergroup)."""

    def __init__(self, new_chat_id: str) -> None:
        super().__init__("chat moved")
        self.new_chat_id = new_chat_id
