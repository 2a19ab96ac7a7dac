"""Delivery bookkeeping that has done its job is deleted, so the database does not grow forever.

What is kept and for how long: a handled update's id stops a redelivery being handled twice
(Telegram keeps undelivered updates for 24 hours, LINE redelivers within minutes), a stored
webhook event is only needed until it is handled, and a sent message's row only until its
delivery is settled. A week covers all of that with room for an outage. Rows that went wrong
(a message refused for good, an event set aside after repeated failures) stay a month for whoever
investigates. The web chat's messages stay as long as its cookie (90 days); the case's history stays
on the tracking page. A LINE chat's long list stays a week for its "more" button. Cases, their
events and the audit chain are never touched here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import line_pages, web_chat
from storage.models import INBOX_MAX_ATTEMPTS, InboxEvent, OutboxMessage, ProcessedUpdate

KEEP_DONE = timedelta(days=7)
KEEP_FAILED = timedelta(days=30)
KEEP_WEB_CHAT = timedelta(days=90)


@dataclass(frozen=True)
class Pruned:
    processed_updates: int
    inbox_events: int
    outbox_messages: int
    web_messages: int = 0
    line_pages: int = 0

    @property
    def total(self) -> int:
        return (
            self.processed_updates
            + self.inbox_events
            + self.outbox_messages
            + self.web_messages
            + self.line_pages
        )


async def prune_delivery_records(session: AsyncSession, now: datetime) -> Pruned:
    """Delete settled delivery rows older than their keeping period (the caller commits)."""
    done_before, failed_before = now - KEEP_DONE, now - KEEP_FAILED
    updates = await session.execute(
        delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < done_before)
    )
    set_aside = col(InboxEvent.attempts) >= INBOX_MAX_ATTEMPTS
    inbox = await session.execute(
        delete(InboxEvent).where(
            (col(InboxEvent.processed_at) < done_before)
            | (set_aside & (col(InboxEvent.received_at) < failed_before))
        )
    )
    outbox = await session.execute(
        delete(OutboxMessage).where(
            ((col(OutboxMessage.status) == "sent") & (col(OutboxMessage.sent_at) < done_before))
            | ((col(OutboxMessage.status) == "failed") & (col(OutboxMessage.created_at) < failed_before))
        )
    )
    return Pruned(
        int(updates.rowcount),  # type: ignore[attr-defined]
        int(inbox.rowcount),  # type: ignore[attr-defined]
        int(outbox.rowcount),  # type: ignore[attr-defined]
        await web_chat.forget_before(session, now - KEEP_WEB_CHAT),
        await line_pages.forget_before(session, now - KEEP_DONE),
    )
