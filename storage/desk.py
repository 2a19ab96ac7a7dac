"""Web desk sessions: created from a one-time link, found by the hash of their token, revoked."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import DeskAccess, DeskSession, OneTimeCode

# what the sign-in log records: `desk.access_<kind>` in the texts
ACCESS_KINDS = (
    "signed_in", "link_refused", "code_refused", "second_step_passed", "signed_out", "session_ended",
    "invited", "staff_removed",
)  # fmt: skip


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_session(
    session: AsyncSession, *, token: str, staff_id: int, org_id: int, csrf: str, now: datetime
) -> DeskSession:
    row = DeskSession(
        token_hash=token_hash(token), staff_id=staff_id, org_id=org_id, csrf=csrf, created_at=now,
        last_seen_at=now,
    )  # fmt: skip
    session.add(row)
    return row


async def find_session(session: AsyncSession, token: str) -> DeskSession | None:
    return await session.get(DeskSession, token_hash(token))


async def revoke_sessions_of(session: AsyncSession, staff_id: int, now: datetime) -> None:
    """Every open session of this staff member ends (removal from the registry)."""
    await session.execute(
        update(DeskSession)
        .where(col(DeskSession.staff_id) == staff_id, col(DeskSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def add_link(session: AsyncSession, *, token: str, org_id: int, staff_id: int, expires_at: datetime) -> None:
    """A one-time sign-in link for this staff member (its token stored only as a hash)."""
    session.add(
        OneTimeCode(
            code_hash=token_hash(token), org_id=org_id, purpose="desk", target=f"staff:{staff_id}",
            expires_at=expires_at,
        )
    )  # fmt: skip


async def redeem_link(session: AsyncSession, token: str, now: datetime) -> int | None:
    """The staff id a sign-in link was made for, the link used up; None for an unknown, used or
    expired one."""
    row = await session.get(OneTimeCode, token_hash(token))
    if row is None or row.purpose != "desk" or row.used_at is not None or row.expires_at <= now:
        return None
    row.used_at = now
    return int(row.target.removeprefix("staff:"))


async def pass_second_step(session: AsyncSession, token: str, now: datetime) -> None:
    row = await session.get(DeskSession, token_hash(token))
    if row is not None:
        row.second_step_at = now


def log_access(
    session: AsyncSession,
    *,
    kind: str,
    at: datetime,
    org_id: int | None,
    staff_id: int | None = None,
    by_staff_id: int | None = None,
    client_key: str | None = None,
) -> None:
    if kind not in ACCESS_KINDS:
        raise ValueError(f"unknown desk access kind {kind!r}: add it to ACCESS_KINDS and the texts")
    session.add(
        DeskAccess(
            at=at, kind=kind, org_id=org_id, staff_id=staff_id, by_staff_id=by_staff_id, client_key=client_key
        )
    )


async def access_log(session: AsyncSession, org_id: int, *, limit: int = 100) -> Sequence[DeskAccess]:
    """The organisation's latest entries, and those of links that belonged to no one, newest first."""
    stmt = (
        select(DeskAccess)
        .where((col(DeskAccess.org_id) == org_id) | col(DeskAccess.org_id).is_(None))
        .order_by(col(DeskAccess.id).desc())
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()
