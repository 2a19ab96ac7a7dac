"""Cases: the case, its divisions, history (the audit chain), files, and what is kept beside it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, org_fk, utcnow


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
    org_id: int = org_fk()
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
    # step by storage.cases.sync_primary_divisions on a transfer; set from the routing on submit
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


class AuditHead(SQLModel, table=True):
    """The end of the audit chain; updating it serialises appends on both databases."""

    __tablename__ = "audit_head"
    id: int = Field(default=1, primary_key=True)
    length: int = 0
    last_hash: str = Field(default="0" * 64, max_length=64)
    # how the chain's rows are written (storage.audit.CHAIN_FORMAT): an older database's history is
    # converted once, at start, by storage.audit.convert_history
    format: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class AuditAnchor(SQLModel, table=True):
    """The chain's head as it was published outside the database on a day (handlers/cases/anchors.py),
    kept here too so the desk and the CLI can show which heads to check against."""

    __tablename__ = "audit_anchors"
    day: date = Field(primary_key=True)
    length: int
    hash: str = Field(max_length=64)
    published_at: datetime = Field(sa_type=UTCDateTime)


class CaseKey(SQLModel, table=True):
    """A case's own key for the free text of its history, wrapped by DAMRONGTHAM_SECRET_KEY
    (storage/case_keys.py). Erasing the reporter's data destroys it: the text stays in the chain,
    its hashes still verify, and nobody can read it again ("crypto-shredding")."""

    __tablename__ = "case_keys"
    case_id: int = Field(foreign_key="cases.id", primary_key=True)
    wrapped: str | None = Field(default=None, sa_type=Text)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class KeyRing(SQLModel, table=True):
    """The keys derived from the first DAMRONGTHAM_SECRET_KEY (look-up hashes, the audit chain's
    links), kept once the secret key was rotated (storage/key_ring.py), wrapped by the current one:
    every keyed hash and link stays valid under the new key. Absent until the first rotation."""

    __tablename__ = "key_ring"
    id: int = Field(default=1, primary_key=True)
    index_key: str = Field(sa_type=Text)
    chain_key: str = Field(sa_type=Text)
    rotated_at: datetime = Field(sa_type=UTCDateTime)


class Attachment(SQLModel, table=True):
    __tablename__ = "attachments"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    org_id: int = Field(foreign_key="organisations.id")
    kind: str = Field(max_length=20)  # photo | document
    channel: str = Field(max_length=20)
    file_id: str = Field(max_length=300)
    file_unique_id: str | None = Field(default=None, max_length=100)
    # the name a document came with, encrypted (storage/evidence.py): it often names a person
    file_name: str | None = Field(default=None, sa_type=Text)
    mime_type: str | None = Field(default=None, max_length=100)
    size: int | None = None
    sha256: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CardMessage(SQLModel, table=True):
    """Where a case card was posted, so it can be edited to show the current state."""

    __tablename__ = "card_messages"
    __table_args__ = (UniqueConstraint("case_id", "channel", "chat_id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    channel: str = Field(max_length=20)
    chat_id: str = Field(max_length=64)
    message_id: str = Field(max_length=64)


class ReminderLog(SQLModel, table=True):
    """One row per reminder ever sent: the unique key makes each go out once."""

    __tablename__ = "reminder_log"
    key: str = Field(max_length=120, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    sent_at: datetime = Field(sa_type=UTCDateTime)


class AccessAttempt(SQLModel, table=True):
    """Failed tracking-code attempts, for the growing delay (survives restarts)."""

    __tablename__ = "access_attempts"
    key: str = Field(max_length=64, primary_key=True)
    failures: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CaseTerm(SQLModel, table=True):
    """The blind word index: a case holds a word whose keyed hash (truncated) is `term`. The words
    themselves are stored nowhere in clear (handlers/cases/search.py)."""

    __tablename__ = "case_terms"
    __table_args__ = (Index("ix_case_terms_org_term", "org_id", "term"),)
    case_id: int = Field(foreign_key="cases.id", primary_key=True)
    term: str = Field(max_length=16, primary_key=True)
    # searched with the term: the composite index above serves both
    org_id: int = Field(foreign_key="organisations.id")
