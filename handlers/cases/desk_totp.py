"""The desk's second step: a one-time code from an authenticator app (TOTP, RFC 6238).

Coordinators and admins may enrol; once enrolled, every sign-in asks for a code, and the
organisation file's `[desk] require_totp_for` makes it mandatory for whole roles. Wrong codes are
counted per person: past a few, the next try waits, longer each time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pyotp

from handlers.cases.desk_sessions import DeskUser, second_step_required
from handlers.cases.refusals import BadInput, NotAllowed
from handlers.core.work import Work
from storage import access as access_repo
from storage import desk as desk_repo
from storage.staff import set_totp_secret, totp_secret

log = logging.getLogger(__name__)
ISSUER = "Damrongtham"


@dataclass(frozen=True)
class Enrolment:
    key: str  # to type into the app by hand
    uri: str  # the same, as the QR code's content


async def start_enrolment(work: Work, *, user: DeskUser) -> Enrolment:
    """A key for this person, kept (encrypted) until a code from it confirms the enrolment."""
    org = work.services.org_of(user.member.org_id)
    if not (user.member.oversees or second_step_required(org, user.member)):
        raise NotAllowed("staff.not_allowed")
    stored = await totp_secret(work.session, user.member.id)
    key = work.services.vault.decrypt(stored).get("key") if stored else None
    if not key:  # a pending key is shown again: a reload must not change what was scanned
        key = pyotp.random_base32()
        secret = work.services.vault.encrypt({"key": key})
        await set_totp_secret(work.session, user.member.id, secret, enrolled=None)
    uri = pyotp.TOTP(key).provisioning_uri(
        name=f"{user.member.name} ({user.member.org_id})", issuer_name=ISSUER
    )
    return Enrolment(key, uri)


async def pass_second_step(work: Work, *, user: DeskUser, token: str, code: str) -> None:
    """The code from the person's app: the session may go on (and a pending enrolment is complete)."""
    attempts = work.services.vault.lookup_key("desk-totp", str(user.member.id))
    if await access_repo.locked_until(work.session, attempts, work.now) is not None:
        _log(work, user, "code_refused")
        raise NotAllowed("desk.too_many_attempts")
    stored = await totp_secret(work.session, user.member.id)
    key = work.services.vault.decrypt(stored).get("key") if stored else None
    given = "".join(ch for ch in code if ch.isdigit())
    if not key or not pyotp.TOTP(key).verify(given, for_time=work.now, valid_window=1):
        log.warning("desk second step refused: wrong code")
        await access_repo.record_failed_attempt(work.session, attempts, work.now)
        _log(work, user, "code_refused")
        raise BadInput("desk.totp_wrong")
    await access_repo.clear_attempts(work.session, attempts)
    if not user.member.totp_enrolled:
        await set_totp_secret(work.session, user.member.id, stored, enrolled=work.now)
    await desk_repo.pass_second_step(work.session, token, work.now)
    _log(work, user, "second_step_passed")


def _log(work: Work, user: DeskUser, kind: str) -> None:
    desk_repo.log_access(
        work.session, kind=kind, at=work.now, org_id=user.member.org_id, staff_id=user.member.id
    )
