"""Use cases on an existing case: staff actions, the reporter's messages, withdrawal and rating.

Each changes the case, appends an audit event, queues who must hear of it, and leaves the commit
to the caller (the engine's one transaction per update).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.cases import cards
from handlers.cases.delivery import (
    deliver_card,
    division_target,
    notify_divisions,
    notify_reporter,
    queue_for,
)
from handlers.core.turn import Services
from kernel import lifecycle
from kernel.deadlines import format_datetime
from kernel.i18n import t
from kernel.messages import Button, Media, Reply
from kernel.org_config import OrgConfig
from kernel.routing import route_report
from storage import repositories as repo
from storage.audit import append_event
from storage.models import Attachment, CardMessage, Case, CaseDivision, Division, Staff
from storage.staff import staff_division_ids

log = logging.getLogger(__name__)
STAFF_LANG = cards.STAFF_LANG


@dataclass(frozen=True)
class Actor:
    label: str  # "staff:<id>" or "reporter": what the audit log records
    name: str  # what the card shows
    staff: Staff | None = None


def staff_actor(staff: Staff) -> Actor:
    return Actor(f"staff:{staff.id}", staff.display_name or f"#{staff.id}", staff)


REPORTER = Actor("reporter", t(STAFF_LANG, "staff.the_reporter"))


async def division_codes(session: AsyncSession, case: Case, role: str | None = None) -> list[str]:
    stmt = select(Division.code).join(CaseDivision).where(col(CaseDivision.case_id) == case.id)
    if role:
        stmt = stmt.where(col(CaseDivision.role) == role)
    return sorted((await session.execute(stmt)).scalars())


async def current_card(
    session: AsyncSession, services: Services, org: OrgConfig, case: Case, last_action: str | None = None
) -> list[Reply]:
    details = services.vault.decrypt(case.details_enc)
    identity = services.vault.decrypt(case.reporter_enc)
    files = [
        {"kind": a.kind, "file_id": a.file_id}
        for a in (
            await session.execute(
                select(Attachment).where(col(Attachment.case_id) == case.id).order_by(col(Attachment.id))
            )
        ).scalars()
    ]
    named = None
    if case.named_division_id is not None:
        named = await session.get(Division, case.named_division_id)
    route = route_report(
        org,
        report_type=case.report_type,
        concerns_personnel=case.concerns_personnel,
        named_division=named.code if named else None,
    )
    primary = tuple(await division_codes(session, case, "primary"))
    return cards.case_card(
        org, case, details=details, identity=identity, files=files, route=route, primary=primary,
        last_action=last_action,
    )  # fmt: skip


async def refresh_cards(
    session: AsyncSession, services: Services, org: OrgConfig, case: Case, last_action: str, now: datetime
) -> None:
    """Edit every posted card of the case to show its state, who acted and when, and fitting buttons."""
    card = (await current_card(session, services, org, case, last_action))[0]
    acting = {f"division:{c}" for c in await division_codes(session, case, "primary")} | {"coordinators"}
    posted = (await session.execute(select(CardMessage).where(col(CardMessage.case_id) == case.id))).scalars()
    for msg in posted:
        bound = {b.target for b in await repo.bindings_of_chat(session, msg.channel, msg.chat_id)}
        # informed divisions, and those the case was transferred away from, see the state without buttons
        buttons = card.buttons if bound & acting else []
        edit = Reply(text=card.text, buttons=buttons, edit_message_id=msg.message_id)
        await queue_for(
            session, services, case, [(msg.channel, msg.chat_id)], "card", [edit], now=now, kind="card_edit"
        )


def _action_line(org: OrgConfig, action: str, actor: Actor, now: datetime) -> str:
    return t(
        STAFF_LANG,
        "staff.last_action",
        action=t(STAFF_LANG, f"staff.did_{action}"),
        name=actor.name,
        when=format_datetime(now, lang=STAFF_LANG, tz=org.tz()),
    )


async def apply_action(
    session: AsyncSession,
    services: Services,
    *,
    org: OrgConfig,
    case: Case,
    actor: Actor,
    action: str,
    note: str | None = None,
    transfer_to: str | None = None,
    now: datetime,
) -> None:
    """Raises `lifecycle.TransitionRefused` when the case's state does not allow `action`."""
    act = lifecycle.check(action, case.status, note)
    if act.to is not None:
        case.status = act.to
    if action == "accept":
        case.acknowledged_at = now
    if act.to in lifecycle.TERMINAL_STATES:
        case.closed_at = now
    if action in ("update", "resolve", "forward", "close", "ask") and case.replied_at is None:
        case.replied_at = now
    if act.public and actor.staff is not None:
        # the reporter hears from us: the next "every 15 days" update is due from now
        case.update_due_at = now + timedelta(days=org.deadlines.update_every_days)
    data: dict[str, Any] | None = None
    if action == "transfer":
        assert transfer_to is not None
        data = {
            "to": transfer_to,
            "from": await _transfer(session, services, org, case, actor, transfer_to, now),
        }
    public = note if act.public else None
    await append_event(
        session, case_id=case.id or 0, org_id=case.org_id, kind=action, actor=actor.label, status=case.status,
        public_note=public, internal_note=None if act.public else note, data=data, at=now,
    )  # fmt: skip
    if actor.staff is not None and act.public:
        await _tell_reporter(session, services, org, case, action, note, transfer_to, now)
    await refresh_cards(session, services, org, case, _action_line(org, action, actor, now), now)
    log.info("case action", extra={"action": action, "reference": case.reference})


async def transfer_targets(session: AsyncSession, org: OrgConfig, case: Case) -> list[str]:
    """Divisions a case may move to: never the one the report is about (conflict of interest), never
    the general grievance chat for a corruption tip, never one already responsible."""
    named = await session.get(Division, case.named_division_id) if case.named_division_id else None
    primary = set(await division_codes(session, case, "primary"))
    return [
        d.code
        for d in org.divisions
        if d.code not in primary
        and not (named is not None and d.code == named.code)
        and not (case.report_type == "corruption" and d.code == org.general_grievance_division)
    ]


async def _transfer(
    session: AsyncSession,
    services: Services,
    org: OrgConfig,
    case: Case,
    actor: Actor,
    to: str,
    now: datetime,
) -> list[str]:
    """The acting division hands the case over (a coordinator hands over all primary divisions)."""
    if to not in org.division_codes():
        raise lifecycle.TransitionRefused("staff.unknown_division")
    if case.report_type == "corruption" and to == org.general_grievance_division:
        raise lifecycle.TransitionRefused("staff.no_corruption_to_general")
    directory = services.directory
    primary = await division_codes(session, case, "primary")
    if to in primary:
        raise lifecycle.TransitionRefused("staff.already_assigned")
    if to not in await transfer_targets(session, org, case):
        raise lifecycle.TransitionRefused("staff.conflict_of_interest")
    giving = primary
    if actor.staff is not None and actor.staff.role == "staff":
        mine = await staff_division_ids(session, actor.staff.id or 0)
        giving = [c for c in primary if directory.division_ids[(org.code, c)] in mine]
        if not giving:  # only a responsible division hands a case over
            raise lifecycle.TransitionRefused("staff.not_responsible")
    for code in giving:
        await session.execute(
            delete(CaseDivision).where(
                col(CaseDivision.case_id) == case.id,
                col(CaseDivision.division_id) == directory.division_ids[(org.code, code)],
            )
        )
    to_id = directory.division_ids[(org.code, to)]
    existing = await session.get(CaseDivision, (case.id, to_id))
    if existing is None:
        session.add(CaseDivision(case_id=case.id or 0, division_id=to_id, role="primary"))
    else:
        existing.role = "primary"
    await repo.sync_primary_divisions(session, case)
    card = await current_card(session, services, org, case, None)
    await deliver_card(
        session, services, org, case, card, target=division_target(to), role="primary", now=now
    )
    return giving


async def _tell_reporter(
    session: AsyncSession,
    services: Services,
    org: OrgConfig,
    case: Case,
    action: str,
    note: str | None,
    transfer_to: str | None,
    now: datetime,
) -> None:
    lang = case.lang
    values = {
        "reference": case.reference,
        "note": note or "",
        "status": t(lang, "status." + case.status),
        "division": org.division(transfer_to).name(lang) if transfer_to else "",
    }
    text = t(lang, f"reporter.{action}", **values)
    buttons: list[list[Button]] = []
    if action == "ask":
        buttons = [[Button(t(lang, "reporter.answer_button"), f"c.add.{case.id}")]]
    await notify_reporter(session, services, case, Reply(text=text, buttons=buttons), now=now)
    if case.status in lifecycle.TERMINAL_STATES:
        stars = [Button("⭐" * n, f"c.rate.{case.id}.{n}") for n in range(1, 6)]
        ask = Reply(text=t(lang, "reporter.rate", reference=case.reference), buttons=[stars[:3], stars[3:]])
        await notify_reporter(session, services, case, ask, now=now)


async def reporter_message(
    session: AsyncSession,
    services: Services,
    *,
    org: OrgConfig,
    case: Case,
    text: str | None,
    media: Media | None,
    now: datetime,
) -> None:
    """The reporter answers a question or adds information; it reaches the assigned divisions' chats."""
    action = "reply" if case.status == "awaiting_info" else "add_info"
    note = text or t(STAFF_LANG, "staff.file_from_reporter")
    header = t(STAFF_LANG, f"staff.reporter_{action}", reference=case.reference)
    if media is not None:
        messages = [Reply(media=Media(kind=media.kind, file_id=media.file_id, caption=header))]
    else:
        messages = [Reply(text=f"{header}\n{text}")]
    codes = await division_codes(session, case)
    await apply_action(
        session, services, org=org, case=case, actor=REPORTER, action=action, note=note, now=now
    )
    await notify_divisions(session, services, case, codes, messages, now=now)


async def withdraw(
    session: AsyncSession, services: Services, *, org: OrgConfig, case: Case, now: datetime
) -> None:
    await apply_action(session, services, org=org, case=case, actor=REPORTER, action="withdraw", now=now)
    text = t(STAFF_LANG, "staff.withdrawn", reference=case.reference)
    await notify_divisions(
        session, services, case, await division_codes(session, case), [Reply(text=text)], now=now
    )


async def rate(session: AsyncSession, *, case: Case, score: int, comment: str | None, now: datetime) -> None:
    if comment is None:
        case.rating = score
    await append_event(
        session, case_id=case.id or 0, org_id=case.org_id, kind="rating", actor="reporter",
        status=case.status, public_note=comment, data={"score": score}, at=now,
    )  # fmt: skip
