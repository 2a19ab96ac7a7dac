"""What every change to a case does, whoever makes it: the lifecycle's step, one audit event, the
reporter told in their language, every posted card edited to show who did what.

The use cases (`staff_cases`, `reporter_cases`) decide who may act, then call `record_change`;
the commit is their door's (the engine's one transaction per update, or the desk's request).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from handlers.cases import cards
from handlers.cases.delivery import COORDINATORS, division_target, notify_reporter, queue_for
from handlers.cases.search import index_text
from handlers.cases.staff_view import CaseFile, CaseForStaff, case_for_staff
from handlers.core.work import Services, Work
from kernel import lifecycle
from kernel.deadlines import format_datetime
from kernel.i18n import t
from kernel.messages import Button, Reply
from kernel.org_config import OrgConfig
from kernel.payloads import ReporterPress
from kernel.routing import route_report
from storage.audit import append_event
from storage.case_context import CaseContext
from storage.evidence import open_name

log = logging.getLogger(__name__)
STAFF_LANG = cards.STAFF_LANG


@dataclass(frozen=True)
class Actor:
    label: str  # "staff:<id>" or "reporter": what the audit log records
    name: str  # what the card shows
    is_staff: bool


REPORTER = Actor("reporter", t(STAFF_LANG, "staff.the_reporter"), is_staff=False)


@dataclass(frozen=True)
class CaseChanged:
    """A use case's outcome: the case after the action."""

    case_id: int
    reference: str
    action: str
    status: str


def named_division(services: Services, ctx: CaseContext) -> str | None:
    """The division the reporter said the case concerns (which must never handle it), if any."""
    division_id = ctx.case.named_division_id
    return services.directory.division_code(division_id) if division_id is not None else None


def current_card(
    services: Services, org: OrgConfig, ctx: CaseContext, last_action: str | None = None
) -> list[Reply]:
    """The case card as staff see it now, with its attachments: built from the context, no query."""
    case = ctx.case
    named = named_division(services, ctx)
    route = route_report(
        org, report_type=case.report_type, concerns_personnel=case.concerns_personnel, named_division=named
    )
    return cards.case_card(
        org, staff_view(services, ctx), route=route, primary=ctx.primary(), last_action=last_action
    )


def staff_view(services: Services, ctx: CaseContext) -> CaseForStaff:
    files = [
        CaseFile.of(
            a.kind,
            a.file_id,
            number=a.id,
            name=open_name(services.vault, a.file_name),
            held=a.sha256 is not None,
        )
        for a in ctx.attachments
    ]
    return case_for_staff(ctx.case, services.vault, files)


async def refresh_cards(work: Work, org: OrgConfig, ctx: CaseContext, last_action: str) -> None:
    """Edit every posted card of the case to show its state, who acted and when, and fitting buttons."""
    card = current_card(work.services, org, ctx, last_action)[0]
    acting = {division_target(c) for c in ctx.primary()} | {COORDINATORS}
    for posted in ctx.cards:
        # informed divisions, and those the case was transferred away from, see the state without buttons
        buttons = card.buttons if posted.bound_to & acting else []
        edit = Reply(text=card.text, buttons=buttons, edit_message_id=posted.message_id)
        await queue_for(
            work.session, work.services, ctx.case, [(posted.channel, posted.chat_id)], "card", [edit],
            now=work.now, kind="card_edit",
        )  # fmt: skip


async def record_change(
    work: Work,
    org: OrgConfig,
    ctx: CaseContext,
    *,
    action: lifecycle.Action,
    actor: Actor,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    transfer_to: str | None = None,
) -> CaseChanged:
    """Apply an action the caller has authorised and the lifecycle allows (`lifecycle.allowed`)."""
    case, now = ctx.case, work.now
    if action.to is not None:
        case.status = action.to
    if action.name == "accept":
        case.acknowledged_at = now
    if action.to in lifecycle.TERMINAL_STATES:
        case.closed_at = now
    if action.name in ("update", "resolve", "forward", "close", "ask") and case.replied_at is None:
        case.replied_at = now
    if action.public and actor.is_staff:
        # the reporter hears from us: the next "every 15 days" update is due from now
        case.update_due_at = org.office().close_of(now + timedelta(days=org.deadlines.update_every_days))
    await append_event(
        work.session,
        work.services.vault,
        case_id=ctx.case_id,
        org_id=case.org_id,
        kind=action.name,
        actor=actor.label,
        status=case.status,
        public_note=note if action.public else None,
        internal_note=None if action.public else note,
        data=data,
        at=now,
    )
    if note and actor.is_staff:
        await index_text(work, case_id=ctx.case_id, org_id=case.org_id, text=note)
    if actor.is_staff and action.public:
        await _tell_reporter(work, org, ctx, action.name, note, transfer_to)
    await refresh_cards(work, org, ctx, _action_line(org, action.name, actor, work))
    log.info("case action", extra={"action": action.name, "reference": case.reference})
    return CaseChanged(ctx.case_id, case.reference, action.name, case.status)


def _action_line(org: OrgConfig, action: str, actor: Actor, work: Work) -> str:
    return t(
        STAFF_LANG,
        "staff.last_action",
        action=t(STAFF_LANG, f"staff.did_{action}"),
        name=actor.name,
        when=format_datetime(work.now, lang=STAFF_LANG, tz=org.tz()),
    )


async def _tell_reporter(
    work: Work, org: OrgConfig, ctx: CaseContext, action: str, note: str | None, transfer_to: str | None
) -> None:
    case = ctx.case
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
        buttons = [[Button(t(lang, "reporter.answer_button"), ReporterPress("add", ctx.case_id).data)]]
    await notify_reporter(work.session, work.services, case, Reply(text=text, buttons=buttons), now=work.now)
    if case.status in lifecycle.TERMINAL_STATES:
        # the number in words too: a screen reader would read only "star star star"
        stars = [
            Button(t(lang, "reporter.rate_button", n=n), ReporterPress("rate", ctx.case_id, n).data)
            for n in range(1, 6)
        ]
        ask = Reply(text=t(lang, "reporter.rate", reference=case.reference), buttons=[stars[:3], stars[3:]])
        await notify_reporter(work.session, work.services, case, ask, now=work.now)
