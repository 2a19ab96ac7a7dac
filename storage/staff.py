"""Staff, their divisions, one-time codes, and who may act on a case."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.desk import revoke_sessions_of
from storage.models import Division, OneTimeCode, Staff, StaffDivision
from storage.types import fit

# a province coordinator is a coordinator of their own organisation who also sees every other
# organisation of the deployment (DESIGN.md: the PAO sees the province's plan as a whole)
ROLES = ("staff", "coordinator", "admin", "province_coordinator")
# readable aloud, no look-alikes (0/O, 1/I/L)
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


async def add_staff(
    session: AsyncSession,
    *,
    org_id: int,
    channel: str,
    user_id: str,
    role: str,
    division_id: int | None,
    display_name: str | None = None,
) -> Staff:
    """Create or reactivate a staff member; a division is added to those they already have."""
    staff = (
        await session.execute(
            select(Staff).where(
                col(Staff.org_id) == org_id, col(Staff.channel) == channel, col(Staff.user_id) == user_id
            )
        )
    ).scalar_one_or_none()
    if staff is None:
        staff = Staff(org_id=org_id, channel=channel, user_id=user_id, role=role)
        session.add(staff)
    staff.role, staff.active = role, True
    if display_name:
        staff.display_name = fit(display_name, 120)
    await session.flush()
    assert staff.id is not None
    if division_id is not None and await session.get(StaffDivision, (staff.id, division_id)) is None:
        session.add(StaffDivision(staff_id=staff.id, division_id=division_id))
    return staff


async def deactivate_staff(
    session: AsyncSession, *, org_id: int, channel: str, user_id: str, now: datetime
) -> bool:
    staff = (
        await session.execute(
            select(Staff).where(
                col(Staff.org_id) == org_id, col(Staff.channel) == channel, col(Staff.user_id) == user_id
            )
        )
    ).scalar_one_or_none()
    if staff is None or not staff.active:
        return False
    staff.active = False
    await session.execute(delete(StaffDivision).where(col(StaffDivision.staff_id) == staff.id))
    await revoke_sessions_of(session, staff.id or 0, now)  # signed out of the desk at once
    return True


async def list_staff(session: AsyncSession, org_id: int) -> list[tuple[Staff, list[str]]]:
    staff = (
        await session.execute(select(Staff).where(col(Staff.org_id) == org_id).order_by(col(Staff.id)))
    ).scalars()
    out = []
    for s in staff:
        codes = (
            await session.execute(
                select(Division.code).join(StaffDivision).where(col(StaffDivision.staff_id) == s.id)
            )
        ).scalars()
        out.append((s, sorted(codes)))
    return out


@dataclass(frozen=True)
class StaffMember:
    """An active staff member of one organisation, with their divisions: who may act, as data."""

    id: int
    org_id: int
    role: str
    name: str
    division_ids: frozenset[int]
    # the chat account they were registered with, which every door acts as
    channel: str = ""
    user_id: str = ""
    desk_lang: str = "th"
    totp_enrolled: bool = False

    @property
    def label(self) -> str:
        """What the audit log records as the actor."""
        return f"staff:{self.id}"

    @property
    def oversees(self) -> bool:
        """Coordinators and admins act on any case of their organisation."""
        return self.role in ("coordinator", "admin", "province_coordinator")

    @property
    def sees_province(self) -> bool:
        """Sees (but acts only in their own organisation on) every organisation's cases and plan."""
        return self.role == "province_coordinator"


_MEMBER = sa_select(
    col(Staff.id), col(Staff.role), col(Staff.display_name), col(Staff.channel), col(Staff.user_id),
    col(Staff.desk_lang), col(Staff.totp_enrolled_at), col(StaffDivision.division_id),
).outerjoin(StaffDivision, col(StaffDivision.staff_id) == col(Staff.id))  # fmt: skip


async def staff_member(
    session: AsyncSession, *, org_id: int, channel: str, user_id: str
) -> StaffMember | None:
    """The active staff member this chat account is in the organisation, with their divisions (one query)."""
    found = _MEMBER.where(
        col(Staff.org_id) == org_id,
        col(Staff.channel) == channel,
        col(Staff.user_id) == user_id,
        col(Staff.active),
    )
    return _member(org_id, (await session.execute(found)).all())


async def province_coordinator(session: AsyncSession, *, channel: str, user_id: str) -> StaffMember | None:
    """This chat account as an active province coordinator, whichever organisation they are in."""
    found = select(col(Staff.id)).where(
        col(Staff.channel) == channel,
        col(Staff.user_id) == user_id,
        col(Staff.role) == "province_coordinator",
        col(Staff.active),
    )
    staff_id = (await session.execute(found.limit(1))).scalar_one_or_none()
    return await staff_member_by_id(session, staff_id) if staff_id is not None else None


async def staff_member_by_id(session: AsyncSession, staff_id: int) -> StaffMember | None:
    """The active staff member with this id, with their divisions."""
    staff = await session.get(Staff, staff_id)
    if staff is None or not staff.active:
        return None
    found = _MEMBER.where(col(Staff.id) == staff_id)
    return _member(staff.org_id, (await session.execute(found)).all())


def _member(org_id: int, rows: Sequence[Any]) -> StaffMember | None:
    if not rows:
        return None
    staff_id, role, name, channel, user_id, desk_lang, enrolled_at = rows[0][:7]
    assert staff_id is not None  # a stored row's key
    divisions = frozenset(row[7] for row in rows if row[7] is not None)
    return StaffMember(
        staff_id,
        org_id,
        role,
        name or f"#{staff_id}",
        divisions,
        channel,
        user_id,
        desk_lang,
        enrolled_at is not None,
    )


async def set_desk_lang(session: AsyncSession, staff_id: int, lang: str) -> None:
    staff = await session.get(Staff, staff_id)
    if staff is not None:
        staff.desk_lang = lang


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().replace("-", "").encode()).hexdigest()


async def create_code(
    session: AsyncSession, *, org_id: int, purpose: str, target: str, role: str, now: datetime, ttl: timedelta
) -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    session.add(
        OneTimeCode(
            code_hash=_code_hash(raw),
            org_id=org_id,
            purpose=purpose,
            target=target,
            role=role,
            expires_at=now + ttl,
        )
    )
    return f"{raw[:5]}-{raw[5:]}"


async def redeem_code(session: AsyncSession, code: str, *, purpose: str, now: datetime) -> OneTimeCode | None:
    """The code's grant, used up; None for an unknown, used or expired code.

    One conditional UPDATE: of two chats sending the code at the same moment, the second waits for
    the first's row lock and then finds it used (a read, then a write, let both through)."""
    used = (
        update(OneTimeCode)
        .where(
            col(OneTimeCode.code_hash) == _code_hash(code),
            col(OneTimeCode.purpose) == purpose,
            col(OneTimeCode.used_at).is_(None),
            col(OneTimeCode.expires_at) > now,
        )
        .values(used_at=now)
        .returning(OneTimeCode)
    )
    return (await session.execute(used)).scalar_one_or_none()


async def totp_secret(session: AsyncSession, staff_id: int) -> str | None:
    """The encrypted authenticator key, enrolled or pending."""
    staff = await session.get(Staff, staff_id)
    return staff.totp_secret_enc if staff is not None else None


async def set_totp_secret(
    session: AsyncSession, staff_id: int, secret_enc: str | None, *, enrolled: datetime | None
) -> None:
    staff = await session.get(Staff, staff_id)
    if staff is not None:
        staff.totp_secret_enc, staff.totp_enrolled_at = secret_enc, enrolled
