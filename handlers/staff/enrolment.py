"""Staff join with `/join CODE` in a private chat; a group becomes a division's chat with `/bind CODE`;
`/desk` in a private chat gives a registered staff member a link to sign in to the web desk."""

from __future__ import annotations

import logging

from handlers.cases.desk_sessions import desk_link
from handlers.cases.refusals import Refused
from handlers.core.turn import Turn
from handlers.core.work import StaffAccount
from kernel.bindings import binding_conflict
from storage import access as access_repo
from storage import chats as chat_repo
from storage import staff as staff_repo
from storage.models import OneTimeCode

log = logging.getLogger(__name__)


async def join(turn: Turn, args: list[str]) -> None:
    inc = turn.incoming
    if inc.chat_type != "private":
        return turn.say("errors.private_only")
    grant = await _redeem(turn, args, purpose="join")
    if grant is None:
        return None
    org_code = turn.services.directory.org_code(grant.org_id)
    division = grant.target.removeprefix("division:") if grant.target.startswith("division:") else None
    await staff_repo.add_staff(
        turn.session, org_id=grant.org_id, channel=inc.channel, user_id=inc.user_id, role=grant.role,
        division_id=turn.services.directory.division_ids[(org_code, division)] if division else None,
        display_name=inc.user_name,
    )  # fmt: skip
    org = turn.services.orgs[org_code]
    where = org.division(division).name(turn.lang) if division else turn.text(f"staff.role_{grant.role}")
    turn.say("staff.joined", where=where, org=org.name(turn.lang))


async def bind(turn: Turn, args: list[str]) -> None:
    inc = turn.incoming
    if inc.chat_type == "private":
        return turn.say("staff.bind_in_group")
    grant = await _redeem(turn, args, purpose="bind")
    if grant is None:
        return None
    org_code = turn.services.directory.org_code(grant.org_id)
    org = turn.services.orgs[org_code]
    others = {b.target for b in await chat_repo.bindings_of_chat(turn.session, inc.channel, inc.chat_id)}
    if binding_conflict(org, grant.target, others):
        return turn.say("staff.bind_conflict")
    code = grant.target.removeprefix("division:")
    released = await chat_repo.bind_chat(
        turn.session, org_id=grant.org_id, target=grant.target,
        division_id=turn.services.directory.division_ids.get((org_code, code)), channel=inc.channel,
        chat_id=inc.chat_id, vault=turn.services.vault,
    )  # fmt: skip
    name = (
        org.division(code).name(turn.lang)
        if grant.target != "coordinators"
        else turn.text("card.coordinators")
    )
    turn.say("staff.bound", target=name, released=released)


async def _redeem(turn: Turn, args: list[str], *, purpose: str) -> OneTimeCode | None:
    """The code's grant; or None, the person told why. Wrong codes are counted per account (who
    typed it, in a group too) with a growing wait, and logged, so guessing is slow and seen."""
    inc = turn.incoming
    account = turn.services.vault.lookup_key("code", inc.channel, inc.user_id)
    locked = await access_repo.locked_until(turn.session, account, turn.now)
    if locked is not None:
        log.warning("a /%s code from a locked account refused", purpose, extra={"account": account[:12]})
        turn.say("staff.code_locked", until=turn.local_time(locked))
        return None
    grant = (
        await staff_repo.redeem_code(turn.session, args[0], purpose=purpose, now=turn.now) if args else None
    )
    if grant is None:
        if args:
            await access_repo.record_failed_attempt(turn.session, account, turn.now)
            log.warning("a wrong /%s code refused", purpose, extra={"account": account[:12]})
        turn.say("staff.code_invalid")
        return None
    await access_repo.clear_attempts(turn.session, account)
    return grant


async def desk(turn: Turn) -> None:
    inc = turn.incoming
    if inc.chat_type != "private":  # a sign-in link is personal: never in a group
        return turn.say("errors.private_only")
    try:
        token = await desk_link(turn.work, by=StaffAccount(inc.channel, inc.user_id))
    except Refused as refused:
        return turn.say(refused.key, **refused.values)
    turn.say("desk.link_reply", url=turn.services.desk_login_url(token))
