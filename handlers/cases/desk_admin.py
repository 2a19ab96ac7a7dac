"""The desk's administration, for an organisation's admins: who is on the staff, invitations,
removal, the chats bound, what the set-up still lacks, and the desk's sign-in log."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from handlers.cases.delivery import COORDINATORS
from handlers.cases.desk_sessions import DeskUser
from handlers.cases.refusals import BadInput, NotAllowed, NotFound
from handlers.core.work import Work
from kernel.org_config import ConfigError
from kernel.org_files import load_organisations
from storage import chats as chat_repo
from storage import desk as desk_repo
from storage.models import Staff
from storage.staff import ROLES, create_code, deactivate_staff, list_staff, staff_member_by_id

log = logging.getLogger(__name__)
INVITATION_TTL = timedelta(days=7)
# what the set-up check can find missing: `desk.setup_<key>` in the texts
SETUP_GAPS = ("no_chat", "no_staff", "no_coordinators_chat", "no_admin_second_step", "not_https")


@dataclass(frozen=True)
class StaffRow:
    id: int
    name: str
    role: str
    divisions: tuple[str, ...]
    account: str  # channel:user id, by which the CLI names them too
    active: bool
    second_step: bool


@dataclass(frozen=True)
class BoundRow:
    target: str  # a division's code, or "coordinators"
    channel: str
    chat_id: str


@dataclass(frozen=True)
class SetupGap:
    key: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccessRow:
    at: datetime
    kind: str
    staff: str | None
    by: str | None


@dataclass(frozen=True)
class FileCheck:
    """The organisation files on disk now, checked as `damrongtham config check` checks them."""

    source: str = ""  # the file with problems, if any
    problems: tuple[str, ...] = ()
    changed: bool = False  # valid, but not what the server runs: a restart applies them


@dataclass(frozen=True)
class AdminOverview:
    staff: list[StaffRow]
    bound: list[BoundRow]
    gaps: list[SetupGap]
    access: list[AccessRow]
    files: FileCheck


def _admin(user: DeskUser) -> None:
    if user.member.role != "admin":
        log.warning("desk admin page refused")
        raise NotAllowed("staff.not_allowed")


def _staff_row(s: Staff, codes: list[str]) -> StaffRow:
    return StaffRow(
        id=s.id or 0, name=s.display_name or f"staff:{s.id}", role=s.role, divisions=tuple(codes),
        account=f"{s.channel}:{s.user_id}", active=s.active, second_step=s.totp_enrolled_at is not None,
    )  # fmt: skip


async def admin_overview(work: Work, *, user: DeskUser) -> AdminOverview:
    _admin(user)
    org_id = user.member.org_id
    org = work.services.org_of(org_id)
    staff = [_staff_row(s, codes) for s, codes in await list_staff(work.session, org_id)]
    bindings = await chat_repo.all_bindings(work.session, org_id)
    bound = [BoundRow(b.target.removeprefix("division:"), b.channel, b.chat_id) for b in bindings]
    gaps: list[SetupGap] = []
    bound_targets = {b.target for b in bound}
    staffed = {code for row in staff if row.active for code in row.divisions}
    for division in org.divisions:
        if division.code not in bound_targets:
            gaps.append(SetupGap("no_chat", {"division": division.name(user.member.desk_lang)}))
        if division.code not in staffed:
            gaps.append(SetupGap("no_staff", {"division": division.name(user.member.desk_lang)}))
    if COORDINATORS not in bound_targets:
        gaps.append(SetupGap("no_coordinators_chat"))
    unguarded = [r for r in staff if r.role == "admin" and r.active and not r.second_step]
    if "admin" not in org.desk.require_totp_for and unguarded:
        gaps.append(SetupGap("no_admin_second_step"))
    if not work.services.public_url.startswith("https://"):
        gaps.append(SetupGap("not_https"))
    names = {row.id: row.name for row in staff}
    access = [
        AccessRow(e.at, e.kind, names.get(e.staff_id or 0), names.get(e.by_staff_id or 0))
        for e in await desk_repo.access_log(work.session, org_id)
    ]
    return AdminOverview(staff, bound, gaps, access, await _check_files(work))


async def _check_files(work: Work) -> FileCheck:
    running = work.services.orgs
    try:
        on_disk = await asyncio.to_thread(load_organisations, work.services.config_path)
    except ConfigError as exc:
        return FileCheck(exc.source, tuple(exc.problems))
    same = [o.code for o in on_disk.all] == [o.code for o in running.all] and all(
        o == running.get(o.code) for o in on_disk.all
    )
    return FileCheck(changed=not same)


async def invite(work: Work, *, user: DeskUser, role: str, division: str | None) -> str:
    """A one-time code (7 days) the person sends as `/join CODE` to the bot in a private chat."""
    _admin(user)
    org_id = user.member.org_id
    org = work.services.org_of(org_id)
    if role not in ROLES or (division is not None and division not in org.division_codes()):
        raise BadInput("errors.stale_button")
    if role == "staff" and division is None:
        raise BadInput("desk.invite_needs_division")
    code = await create_code(
        work.session, org_id=org_id, purpose="join", role=role, now=work.now, ttl=INVITATION_TTL,
        target=f"division:{division}" if division else "none",
    )  # fmt: skip
    desk_repo.log_access(work.session, kind="invited", at=work.now, org_id=org_id, by_staff_id=user.member.id)
    return code


async def remove_staff(work: Work, *, user: DeskUser, staff_id: int) -> str:
    """As `damrongtham staff remove`: their buttons and desk sessions stop at once; the history
    keeps their name. Returns that name."""
    _admin(user)
    if staff_id == user.member.id:
        raise BadInput("desk.remove_self")
    member = await staff_member_by_id(work.session, staff_id)
    if member is None or member.org_id != user.member.org_id:
        raise NotFound("desk.staff_not_found")
    await deactivate_staff(
        work.session, org_id=member.org_id, channel=member.channel, user_id=member.user_id, now=work.now
    )
    desk_repo.log_access(
        work.session, kind="staff_removed", at=work.now, org_id=member.org_id, staff_id=member.id,
        by_staff_id=user.member.id,
    )  # fmt: skip
    log.info("staff removed from the desk", extra={"staff": member.label})
    return member.name
