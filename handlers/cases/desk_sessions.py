"""Signing in to the web desk: no passwords. A registered staff member asks the bot for a link
(`/desk` in a private chat, or `damrongtham desk link` for the first admin); opening it creates a
session and burns the link. A session ends after 30 idle minutes, 12 hours, signing out, or the
person's removal from the staff registry."""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from handlers.cases.refusals import BadInput, NotAllowed, NotFound
from handlers.core.work import StaffAccount, Work
from kernel.i18n import LANGUAGES
from kernel.org_config import OrgConfig
from storage import access as access_repo
from storage import desk as desk_repo
from storage.staff import StaffMember, set_desk_lang, staff_member, staff_member_by_id

log = logging.getLogger(__name__)
LINK_TTL = timedelta(minutes=10)
IDLE = timedelta(minutes=30)
MAX_AGE = timedelta(hours=12)


@dataclass(frozen=True)
class DeskUser:
    """Who is signed in, and the token their forms must carry."""

    member: StaffMember
    csrf: str
    # signed in by link, but the second step (a TOTP code) is still to pass
    second_step_pending: bool = False

    @property
    def account(self) -> StaffAccount:
        """The chat account they are registered with: the desk acts as the same person."""
        return StaffAccount(self.member.channel, self.member.user_id)


@dataclass(frozen=True)
class SignedIn:
    token: str
    user: DeskUser


async def desk_link(work: Work, *, by: StaffAccount) -> str:
    """A sign-in link's token for this staff member, valid 10 minutes and once."""
    for org_id in work.services.directory.org_ids.values():
        member = await staff_member(work.session, org_id=org_id, channel=by.channel, user_id=by.user_id)
        if member is not None:
            token = secrets.token_urlsafe(32)
            desk_repo.add_link(
                work.session, token=token, org_id=org_id, staff_id=member.id, expires_at=work.now + LINK_TTL
            )
            return token
    log.warning("desk link refused")
    raise NotAllowed("staff.not_allowed")


async def sign_in(work: Work, *, link: str, client: str) -> SignedIn:
    """`client`: where the request came from (its address), only ever stored as a keyed hash: wrong
    links from there are counted, and past a few the next try waits, growing each time."""
    attempts = work.services.vault.lookup_key("desk-sign-in", client)
    if await access_repo.locked_until(work.session, attempts, work.now) is not None:
        log.warning("desk sign-in refused: too many wrong links")
        desk_repo.log_access(work.session, kind="link_refused", at=work.now, org_id=None, client_key=attempts)
        raise NotAllowed("desk.too_many_attempts")
    staff_id = await desk_repo.redeem_link(work.session, link, work.now)
    member = await staff_member_by_id(work.session, staff_id) if staff_id is not None else None
    if member is None:
        log.warning("desk sign-in refused: unknown, used or expired link")
        await access_repo.record_failed_attempt(work.session, attempts, work.now)
        desk_repo.log_access(work.session, kind="link_refused", at=work.now, org_id=None, client_key=attempts)
        raise NotFound("desk.link_invalid")
    await access_repo.clear_attempts(work.session, attempts)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    desk_repo.add_session(
        work.session, token=token, staff_id=member.id, org_id=member.org_id, csrf=csrf, now=work.now
    )
    log.info("desk sign-in", extra={"staff": member.label})
    desk_repo.log_access(
        work.session, kind="signed_in", at=work.now, org_id=member.org_id, staff_id=member.id,
        client_key=attempts,
    )  # fmt: skip
    return SignedIn(token, DeskUser(member, csrf))


async def desk_user(work: Work, *, token: str) -> DeskUser:
    """The person this session belongs to, if it is still open; it counts as activity."""
    row = await desk_repo.find_session(work.session, token) if token else None
    if row is None or row.revoked_at is not None:
        raise NotAllowed("desk.signed_out")
    member = await staff_member_by_id(work.session, row.staff_id)
    # idle too long, open too long, or removed from the registry: the session ends
    if work.now - row.last_seen_at > IDLE or work.now - row.created_at > MAX_AGE or member is None:
        row.revoked_at = work.now
        desk_repo.log_access(
            work.session, kind="session_ended", at=work.now, org_id=row.org_id, staff_id=row.staff_id
        )
        raise NotAllowed("desk.signed_out")
    row.last_seen_at = work.now
    pending = second_step_required(work.services.org_of(member.org_id), member) and row.second_step_at is None
    return DeskUser(member, row.csrf, pending)


def second_step_required(org: OrgConfig, member: StaffMember) -> bool:
    """Once enrolled, always; and for every role the organisation file names."""
    return member.totp_enrolled or member.role in org.desk.require_totp_for


def csrf_matches(user: DeskUser, given: str) -> bool:
    return hmac.compare_digest(user.csrf.encode(), given.encode())


async def sign_out(work: Work, *, token: str) -> None:
    row = await desk_repo.find_session(work.session, token) if token else None
    if row is not None and row.revoked_at is None:
        row.revoked_at = work.now
        desk_repo.log_access(
            work.session, kind="signed_out", at=work.now, org_id=row.org_id, staff_id=row.staff_id
        )


async def set_language(work: Work, *, user: DeskUser, lang: str) -> None:
    """The desk's language for this person, kept for their next sessions."""
    if lang not in LANGUAGES:
        raise BadInput("errors.stale_button")
    await set_desk_lang(work.session, user.member.id, lang)
