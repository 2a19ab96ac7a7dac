"""Messages in and out: each chat's conversation, updates handled, the inbox and the outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class Conversation(SQLModel, table=True):
    """One chat's place in a conversation, written through at every step."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "chat_key"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    # HMAC of the chat id: findable without storing the id in clear
    chat_key: str = Field(max_length=64)
    org_id: int | None = Field(default=None, foreign_key="organisations.id")
    lang: str = Field(default="th", max_length=5)
    step: str = Field(default="idle", max_length=40)
    prompt_no: int = 0
    state_enc: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProcessedUpdate(SQLModel, table=True):
    __tablename__ = "processed_updates"
    channel: str = Field(max_length=20, primary_key=True)
    update_key: str = Field(max_length=100, primary_key=True)
    processed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


INBOX_MAX_ATTEMPTS = 5


class InboxEvent(SQLModel, table=True):
    """A webhook delivery, stored before the platform gets its answer, then handled in order."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "event_key"),
        Index("ix_inbox_pending", "processed_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    # Telegram's update_id, LINE's webhookEventId: a redelivery is stored once
    event_key: str = Field(max_length=100)
    # the keyed hash of the chat the event belongs to (bot.inbox): its events keep their order, and
    # with several processes one claims the chat (storage.chat_claims)
    lane: str | None = Field(default=None, max_length=64)
    payload_enc: str = Field(sa_type=Text)
    received_at: datetime = Field(sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0


class HealthProbe(SQLModel, table=True):
    """One row `/healthz` writes to: the server is healthy only while a write commits."""

    __tablename__ = "health_probe"
    id: int = Field(default=1, primary_key=True)
    checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OutboxMessage(SQLModel, table=True):
    """Every message the bot sends, written in the transaction that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # "an earlier message to this chat still waits" (the dispatcher's claim) reads only the
        # chat's unsent rows, not the years of sent ones before them; by chat alone too
        Index("ix_outbox_chat_waiting", "chat_key", "status", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int | None = Field(default=None, foreign_key="organisations.id")
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    kind: str = Field(max_length=30)
    # "reply", "division:<code>", "coordinators"
    target: str = Field(max_length=40)
    channel: str | None = Field(default=None, max_length=20)
    chat_enc: str | None = Field(default=None, sa_type=Text)
    # keyed hash of channel and chat: keeps one chat's messages in order without decrypting
    chat_key: str | None = Field(default=None, max_length=64)
    # pending | sending | sent | waiting_binding | failed
    status: str = Field(default="pending", max_length=20)
    # the message itself, encrypted; wiped once sent (it may hold a tracking code)
    payload_enc: str | None = Field(default=None, sa_type=Text)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=300)
    # the instance (DAMRONGTHAM_INSTANCE) whose dispatcher claimed it while "sending": a clean stop
    # gives its claims back, a restart of the same instance takes them over at once
    claimed_by: str | None = Field(default=None, max_length=80)


class LinePage(SQLModel, table=True):
    """The last long button list sent to a LINE chat, which LINE shows 12 at a time: the "more"
    press is answered from here by whichever process receives it, not from one process's memory."""

    __tablename__ = "line_pages"
    # keyed hash of the chat id
    chat_key: str = Field(max_length=64, primary_key=True)
    reply_enc: str = Field(sa_type=Text)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class WebMessage(SQLModel, table=True):
    """The web chat's messages: a web reporter has no app for us to deliver to, so what the bot
    says to them (and what they sent) waits here, encrypted, for their page."""

    __tablename__ = "web_messages"
    id: int | None = Field(default=None, primary_key=True)
    # keyed hash of the conversation's cookie: the page finds its messages without the cookie in clear
    chat_key: str = Field(max_length=64, index=True)
    # "bot" or "citizen"
    author: str = Field(max_length=10)
    payload_enc: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
