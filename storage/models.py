"""Tables. Every organisation-owned row carries `org_id` (DESIGN.md: several organisations)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


def _org_fk() -> Any:
    return Field(sa_column=Column(Integer, ForeignKey("organisations.id"), nullable=False, index=True))


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=10, unique=True)
    name_th: str
    name_en: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Division(SQLModel, table=True):
    __tablename__ = "divisions"
    __table_args__ = (UniqueConstraint("org_id", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _org_fk()
    code: str = Field(max_length=20)
    name_th: str
    name_en: str
    active: bool = True


class ChatBinding(SQLModel, table=True):
    """Which chat receives a division's cases, or the coordinators' messages."""

    __tablename__ = "chat_bindings"
    __table_args__ = (UniqueConstraint("org_id", "target", "channel"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _org_fk()
    # "division:<code>" or "coordinators"
    target: str = Field(max_length=40)
    division_id: int | None = Field(default=None, foreign_key="divisions.id")
    channel: str = Field(max_length=20)
    chat_id: str = Field(max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Staff(SQLModel, table=True):
    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("org_id", "channel", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _org_fk()
    channel: str = Field(max_length=20)
    user_id: str = Field(max_length=64)
    # staff | coordinator | admin
    role: str = Field(default="staff", max_length=20)
    display_name: str | None = Field(default=None, max_length=120)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StaffDivision(SQLModel, table=True):
    __tablename__ = "staff_divisions"
    staff_id: int = Field(foreign_key="staff.id", primary_key=True)
    division_id: int = Field(foreign_key="divisions.id", primary_key=True)


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


class CaseCounter(SQLModel, table=True):
    __tablename__ = "case_counters"
    org_id: int = Field(foreign_key="organisations.id", primary_key=True)
    be_year: int = Field(primary_key=True)
    last_seq: int = 0


PERIOD_INDEX_COLUMNS = (
    "org_id", "created_at", "report_type", "category", "status", "acknowledged_at", "closed_at",
    "primary_division_ids", "id",
)  # fmt: skip


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("org_id", "be_year", "seq"),
        Index("ix_cases_org_status", "org_id", "status"),
        # statistics and exports of a period (handlers/stats.py); the statistics read only these
        # columns, so they count from the index alone (migrations 0006, 0007)
        Index("ix_cases_org_period", *PERIOD_INDEX_COLUMNS),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _org_fk()
    reference: str = Field(max_length=30, unique=True)
    be_year: int
    seq: int
    report_type: str = Field(max_length=20)
    concerns_personnel: str = Field(max_length=10)
    named_division_id: int | None = Field(default=None, foreign_key="divisions.id")
    category: str = Field(max_length=30)
    status: str = Field(default="received", max_length=20)
    anonymous: bool
    lang: str = Field(default="th", max_length=5)
    # description, when, where, location, people: encrypted JSON
    details_enc: str = Field(sa_type=Text)
    # name, phone, contact, chat id, username: encrypted JSON
    reporter_enc: str = Field(sa_type=Text)
    reporter_channel: str = Field(max_length=20)
    reporter_key: str = Field(max_length=64, index=True)
    tracking_hash: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ack_due_at: datetime = Field(sa_type=UTCDateTime)
    reply_due_at: datetime = Field(sa_type=UTCDateTime)
    update_due_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    replied_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rating: int | None = None
    # the ids of the case's primary divisions in case_divisions, ascending and comma-joined, None when
    # there is none: the statistics count by division from the period index, without a join. Kept in
    # step by storage.repositories.sync_primary_divisions on a transfer; set from the routing on submit
    # (handlers/submit.py); migration 0007 filled the older cases.
    primary_division_ids: str | None = Field(default=None, max_length=200)


class CaseDivision(SQLModel, table=True):
    __tablename__ = "case_divisions"
    # a division's cases (`/cases`, handlers/case_queries.py); the primary key leads with case_id
    __table_args__ = (Index("ix_case_divisions_division", "division_id", "case_id"),)
    case_id: int = Field(foreign_key="cases.id", primary_key=True)
    division_id: int = Field(foreign_key="divisions.id", primary_key=True)
    role: str = Field(max_length=20)  # primary | informed


class CaseEvent(SQLModel, table=True):
    """Append-only, hash-chained history of every case (`storage/audit.py`)."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("seq", name="uq_case_events_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    seq: int | None = None
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)
    data_json: str | None = Field(default=None, sa_type=Text)
    case_id: int = Field(foreign_key="cases.id", index=True)
    org_id: int = Field(foreign_key="organisations.id")
    kind: str = Field(max_length=30)
    actor: str = Field(max_length=60)
    status: str = Field(max_length=20)
    public_note: str | None = Field(default=None, sa_type=Text)
    internal_note: str | None = Field(default=None, sa_type=Text)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Attachment(SQLModel, table=True):
    __tablename__ = "attachments"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    org_id: int = Field(foreign_key="organisations.id")
    kind: str = Field(max_length=20)  # photo | document
    channel: str = Field(max_length=20)
    file_id: str = Field(max_length=300)
    file_unique_id: str | None = Field(default=None, max_length=100)
    file_name: str | None = Field(default=None, max_length=300)
    mime_type: str | None = Field(default=None, max_length=100)
    size: int | None = None
    sha256: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OutboxMessage(SQLModel, table=True):
    """Every message the bot sends, written in the transaction that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int | None = Field(default=None, foreign_key="organisations.id")
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    kind: str = Field(max_length=30)
    # "reply", "division:<code>", "coordinators"
    target: str = Field(max_length=40)
    channel: str | None = Field(default=None, max_length=20)
    chat_enc: str | None = Field(default=None, sa_type=Text)
    # keyed hash of channel and chat: keeps one chat's messages in order without decrypting
    chat_key: str | None = Field(default=None, max_length=64, index=True)
    # pending | sending | sent | waiting_binding | failed
    status: str = Field(default="pending", max_length=20)
    # the message itself, encrypted; wiped once sent (it may hold a tracking code)
    payload_enc: str | None = Field(default=None, sa_type=Text)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=300)


class AuditHead(SQLModel, table=True):
    """The end of the audit chain; updating it serialises appends on both databases."""

    __tablename__ = "audit_head"
    id: int = Field(default=1, primary_key=True)
    length: int = 0
    last_hash: str = Field(default="0" * 64, max_length=64)


class CardMessage(SQLModel, table=True):
    """Where a case card was posted, so it can be edited to show the current state."""

    __tablename__ = "card_messages"
    __table_args__ = (UniqueConstraint("case_id", "channel", "chat_id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    channel: str = Field(max_length=20)
    chat_id: str = Field(max_length=64)
    message_id: str = Field(max_length=64)


class OneTimeCode(SQLModel, table=True):
    """Invitations (`/join`) and chat bindings (`/bind`), stored as hashes and used once."""

    __tablename__ = "one_time_codes"
    code_hash: str = Field(max_length=64, primary_key=True)
    org_id: int = Field(foreign_key="organisations.id")
    # join | bind
    purpose: str = Field(max_length=10)
    target: str = Field(max_length=40)
    role: str = Field(default="staff", max_length=20)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReminderLog(SQLModel, table=True):
    """One row per reminder ever sent: the unique key makes each go out once."""

    __tablename__ = "reminder_log"
    key: str = Field(max_length=120, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    sent_at: datetime = Field(sa_type=UTCDateTime)


class PlanItem(SQLModel, table=True):
    """A project, activity or measure of the anti-corruption action plan."""

    __tablename__ = "plan_items"
    __table_args__ = (UniqueConstraint("org_id", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _org_fk()
    code: str = Field(max_length=30)
    title_th: str = Field(sa_type=Text)
    title_en: str = Field(sa_type=Text)
    dimension: int
    division_id: int = Field(foreign_key="divisions.id", index=True)
    # B.E. fiscal years the item runs in, comma-separated ("2568,2569,2570")
    fiscal_years: str = Field(max_length=100)
    budget: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RoundDue(SQLModel, table=True):
    """A due date set for one year's round, overriding the organisation file's rule."""

    __tablename__ = "round_dues"
    org_id: int = Field(foreign_key="organisations.id", primary_key=True)
    fiscal_year: int = Field(primary_key=True)
    round: str = Field(max_length=5, primary_key=True)
    due_date: date


class ProgressReport(SQLModel, table=True):
    """One report of an item's progress in a round; history is kept, the latest before the due date counts."""

    __tablename__ = "progress_reports"
    __table_args__ = (Index("ix_progress_item_round", "item_id", "fiscal_year", "round"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = _org_fk()
    item_id: int = Field(foreign_key="plan_items.id")
    fiscal_year: int
    round: str = Field(max_length=5)
    # done | in_progress | not_started
    status: str = Field(max_length=20)
    note: str | None = Field(default=None, sa_type=Text)
    evidence_json: str | None = Field(default=None, sa_type=Text)
    actor: str = Field(max_length=60)
    reported_at: datetime = Field(sa_type=UTCDateTime)


# an inbox event that failed this many times is set aside (kept for investigation, not retried)
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
    payload_enc: str = Field(sa_type=Text)
    received_at: datetime = Field(sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0


class AccessAttempt(SQLModel, table=True):
    """Failed tracking-code attempts, for the growing delay (survives restarts)."""

    __tablename__ = "access_attempts"
    key: str = Field(max_length=64, primary_key=True)
    failures: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


__all__ = [
    "AccessAttempt",
    "Attachment",
    "AuditHead",
    "CardMessage",
    "Case",
    "CaseCounter",
    "CaseDivision",
    "CaseEvent",
    "ChatBinding",
    "Conversation",
    "Division",
    "InboxEvent",
    "OneTimeCode",
    "Organisation",
    "OutboxMessage",
    "PlanItem",
    "ProcessedUpdate",
    "ProgressReport",
    "ReminderLog",
    "RoundDue",
    "Staff",
    "StaffDivision",
]
