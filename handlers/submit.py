"""`submit_report`: a draft becomes a case, and its notifications are queued in the same transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.org_config import OrgConfig
from handlers import cards
from handlers.deadlines import add_working_days, buddhist_year
from handlers.messages import Media, Reply
from handlers.routing import route_report
from handlers.turn import Services
from storage import repositories as repo
from storage.crypto import hash_tracking_code, new_tracking_code
from storage.models import Attachment, Case, CaseDivision, CaseEvent
from storage.outbox import queue_message

log = logging.getLogger(__name__)
COORDINATORS = "coordinators"


@dataclass(frozen=True)
class ReporterInfo:
    channel: str
    chat_id: str
    user_id: str
    lang: str


@dataclass(frozen=True)
class Submitted:
    case_id: int
    reference: str
    tracking_code: str


def division_target(code: str) -> str:
    return f"division:{code}"


def format_reference(org_code: str, be_year: int, seq: int) -> str:
    return f"{org_code}-{be_year}-{seq:06d}"


async def submit_report(
    session: AsyncSession,
    services: Services,
    *,
    org: OrgConfig,
    draft: dict[str, Any],
    reporter: ReporterInfo,
    now: datetime,
) -> Submitted:
    vault, directory = services.vault, services.directory
    org_id = directory.org_ids[org.code]
    be_year = buddhist_year(now, org.tz())
    seq = await repo.next_case_number(session, org_id, be_year)
    reference = format_reference(org.code, be_year, seq)
    code = new_tracking_code()
    named = draft.get("named_division")
    anonymous = bool(draft.get("anonymous", True))
    identity: dict[str, Any] = {"chat_id": reporter.chat_id}
    if not anonymous:
        identity.update(
            user_id=reporter.user_id,
            name=draft.get("name"),
            phone=draft.get("phone"),
            contact=draft.get("contact"),
        )
    details = {k: draft.get(k) for k in ("description", "when", "where", "location", "people")}
    deadlines = org.deadlines
    case = Case(
        org_id=org_id,
        reference=reference,
        be_year=be_year,
        seq=seq,
        report_type=draft["type"],
        concerns_personnel=draft.get("concerns") or "unsure",
        named_division_id=directory.division_ids[(org.code, named)] if named else None,
        category=draft["category"],
        anonymous=anonymous,
        lang=reporter.lang,
        details_enc=vault.encrypt(details),
        reporter_enc=vault.encrypt(identity),
        reporter_channel=reporter.channel,
        reporter_key=vault.lookup_key(reporter.channel, reporter.user_id),
        tracking_hash=hash_tracking_code(code),
        created_at=now,
        ack_due_at=add_working_days(
            now, deadlines.acknowledge_working_days, tz=org.tz(), holidays=deadlines.holidays
        ),
        reply_due_at=now + _days(deadlines.reply_days),
        update_due_at=now + _days(deadlines.update_every_days),
    )
    session.add(case)
    await session.flush()
    assert case.id is not None
    route = route_report(
        org, report_type=case.report_type, concerns_personnel=case.concerns_personnel, named_division=named
    )
    for role, codes in (("primary", route.primary), ("informed", route.informed)):
        for div_code in codes:
            session.add(
                CaseDivision(
                    case_id=case.id, division_id=directory.division_ids[(org.code, div_code)], role=role
                )
            )
    for f in draft.get("files") or []:
        session.add(
            Attachment(
                case_id=case.id,
                org_id=org_id,
                kind=f["kind"],
                channel=reporter.channel,
                file_id=f["file_id"],
                file_unique_id=f.get("file_unique_id"),
                file_name=f.get("file_name"),
                mime_type=f.get("mime_type"),
                size=f.get("size"),
            )
        )
    session.add(
        CaseEvent(
            case_id=case.id, org_id=org_id, kind="received", actor="reporter", status="received", at=now
        )
    )

    card = cards.case_card(
        org, case, details=details, identity=identity, files=draft.get("files") or [], route=route
    )
    for role, codes in (("primary", route.primary), ("informed", route.informed)):
        for div_code in codes:
            await _deliver_card(
                session, services, org, case, card, target=division_target(div_code), role=role
            )
    if route.coordinators:
        await _deliver_card(session, services, org, case, card, target=COORDINATORS, role="conflict")
    log.info("case submitted", extra={"reference": reference, "route": route.divisions})
    return Submitted(case.id, reference, code)


def _days(n: int) -> Any:
    from datetime import timedelta

    return timedelta(days=n)


async def _deliver_card(
    session: AsyncSession,
    services: Services,
    org: OrgConfig,
    case: Case,
    card: list[Reply],
    *,
    target: str,
    role: str,
) -> None:
    """Queue the card for every chat bound to `target`; with none, it waits and coordinators hear."""
    org_id = case.org_id
    bindings = list(await repo.bindings_for(session, org_id, target))
    if case.report_type == "corruption":
        # The assessment criteria want a channel for corruption separate from general grievances.
        general = {
            (b.channel, b.chat_id)
            for b in await repo.bindings_for(session, org_id, division_target(org.general_grievance_division))
        }
        kept = [b for b in bindings if (b.channel, b.chat_id) not in general]
        if len(kept) < len(bindings):
            log.warning(
                "corruption case card withheld from a general grievance chat", extra={"target": target}
            )
        bindings = kept
    header = Reply(text=cards.role_line(role, org, target))
    messages = [_with_header(card[0], header), *card[1:]]
    if not bindings:
        for msg in messages:
            await queue_message(
                session,
                services.vault,
                org_id=org_id,
                case_id=case.id,
                kind="case_card",
                target=target,
                channel=None,
                chat_id=None,
                reply=msg,
                status="waiting_binding",
            )
        if target != COORDINATORS:
            alert = Reply(text=cards.unbound_alert(org, case, target))
            await _to_coordinators(session, services, org_id, case, alert)
        return
    for b in bindings:
        for msg in messages:
            await queue_message(
                session,
                services.vault,
                org_id=org_id,
                case_id=case.id,
                kind="case_card",
                target=target,
                channel=b.channel,
                chat_id=b.chat_id,
                reply=msg,
            )


def _with_header(card: Reply, header: Reply) -> Reply:
    return Reply(text=f"{header.text}\n{card.text}", buttons=card.buttons, media=card.media)


async def _to_coordinators(
    session: AsyncSession, services: Services, org_id: int, case: Case, reply: Reply
) -> None:
    bindings = await repo.bindings_for(session, org_id, COORDINATORS)
    if not bindings:
        await queue_message(
            session,
            services.vault,
            org_id=org_id,
            case_id=case.id,
            kind="alert",
            target=COORDINATORS,
            channel=None,
            chat_id=None,
            reply=reply,
            status="waiting_binding",
        )
    for b in bindings:
        await queue_message(
            session,
            services.vault,
            org_id=org_id,
            case_id=case.id,
            kind="alert",
            target=COORDINATORS,
            channel=b.channel,
            chat_id=b.chat_id,
            reply=reply,
        )


__all__ = ["Media", "ReporterInfo", "Submitted", "submit_report"]
