"""The outbox dispatcher: queued messages sent after their transaction committed, with retries."""

from bot.outbox.dispatcher import OutboxDispatcher
from bot.outbox.sending import MARK_WITHIN

__all__ = ["MARK_WITHIN", "OutboxDispatcher"]
