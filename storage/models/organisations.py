"""Organisations, their divisions and chats, staff, and one-time codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, org_fk, utcnow


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
    org_id: int = org_fk()
    code: str = Field(max_length=20)
    name_th: str
    name_en: str
    active: bool = True


class ChatBinding(SQLModel, table=True):
    """Which chat receives a division's cases, or the coordinators' messages."""

    __tablename__ = "chat_bindings"
    __table_args__ = (UniqueConstraint("org_id", "target", "channel"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = org_fk()
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
    org_id: int = org_fk()
    channel: str = Field(max_length=20)
    user_id: str = Field(max_length=64)
    # staff | coordinator | admin
    role: str = Field(default="staff", max_length=20)
    display_name: str | None = Field(default=None, max_length=120)
    active: bool = True
    # the web desk's language, remembered per person (th or en)
    desk_lang: str = Field(default="th", max_length=5, sa_column_kwargs={"server_default": "th"})
    # the desk's second step: the authenticator key (encrypted), and when a code first confirmed it
    totp_secret_enc: str | None = Field(default=None, sa_type=Text)
    totp_enrolled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StaffDivision(SQLModel, table=True):
    __tablename__ = "staff_divisions"
    staff_id: int = Field(foreign_key="staff.id", primary_key=True)
    division_id: int = Field(foreign_key="divisions.id", primary_key=True)


class OneTimeCode(SQLModel, table=True):
    """Invitations (`/join`) and chat bindings (`/bind`), stored as hashes and used once."""

    __tablename__ = "one_time_codes"
    code_hash: str = Field(max_length=64, primary_key=True)
    org_id: int = Field(foreign_key="organisations.id")
    # join | bind | desk (a sign-in link: target is "staff:<id>")
    purpose: str = Field(max_length=10)
    target: str = Field(max_length=40)
    role: str = Field(default="staff", max_length=20)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeskSession(SQLModel, table=True):
    """A staff member signed in to the web desk: found by its token's hash, revocable, expiring."""

    __tablename__ = "desk_sessions"
    token_hash: str = Field(max_length=64, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    org_id: int = Field(foreign_key="organisations.id")
    # sent with every form and checked (CSRF); not a secret beyond the session
    csrf: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # when the second step (a TOTP code) was passed, for people who need one
    second_step_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DeskAccess(SQLModel, table=True):
    """The desk's sign-in log: every sign-in, refused link or code, sign-out and ended session,
    and the admins' invitations and removals. `client_key` is a keyed hash of the address."""

    __tablename__ = "desk_access_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=30)
    # None for a link that belongs to no one
    org_id: int | None = Field(default=None, foreign_key="organisations.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    # who did it, when it is not the person themselves (an admin's removal)
    by_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    client_key: str | None = Field(default=None, max_length=64)
