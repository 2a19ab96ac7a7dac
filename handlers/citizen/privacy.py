"""PDPA controls: erasing personal data from closed cases (after retention, or on request) and
showing a reporter what is held about them. The case, its history and its statistics stay."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.core.turn import Services, Turn, reply_with
from kernel.lifecycle import TERMINAL_STATES
from kernel.messages import Button, Reply
from kernel.org_config import OrgConfig
from storage import repositories as repo
from storage.audit import append_event
from storage.models import Attachment, Case

log = logging.getLogger(__name__)
ERASED = {"erased": True}


async def erase_personal_data(
    session: AsyncSession, services: Services, case: Case, *, reason: str, now: datetime
) -> None:
    """Reporter identity, contact and chat id, the people named and shared places go; the case stays."""
    details = services.vault.decrypt(case.details_enc)
    details.update(people=None, location=None, when=None, where=None)
    case.details_enc = services.vault.encrypt(details)
    case.reporter_enc = services.vault.encrypt(ERASED)
    case.reporter_key = "erased"  # no longer linked to any account
    for attachment in (
        await session.execute(select(Attachment).where(col(Attachment.case_id) == case.id))
    ).scalars():
        attachment.file_id, attachment.file_unique_id, attachment.file_name = "erased", None, None
    await append_event(
        session, case_id=case.id or 0, org_id=case.org_id, kind="erased", actor=reason, status=case.status,
        at=now, data={"reason": reason},
    )  # fmt: skip


async def due_for_purge(session: AsyncSession, org: OrgConfig, org_id: int, now: datetime) -> Sequence[Case]:
    cutoff = now - timedelta(days=org.privacy.retention_days)
    stmt = select(Case).where(
        col(Case.org_id) == org_id,
        col(Case.status).in_(TERMINAL_STATES),
        col(Case.closed_at) < cutoff,
        col(Case.reporter_key) != "erased",
    )
    return (await session.execute(stmt.order_by(col(Case.closed_at)))).scalars().all()


_REPORTS_SINCE = select(func.count()).where(
    col(Case.reporter_key) == bindparam("reporter_key"), col(Case.created_at) > bindparam("since")
)  # built once: it is on every submit's path


async def too_many_reports(session: AsyncSession, org: OrgConfig, reporter_key: str, now: datetime) -> bool:
    """Counted from the stored cases, so the limit holds across restarts."""
    since = now - timedelta(days=1)
    recent = await session.execute(_REPORTS_SINCE, {"reporter_key": reporter_key, "since": since})
    return recent.scalar_one() >= org.privacy.max_reports_per_day


# --- in the bot: /mydata ---------------------------------------------------------------------


async def my_data(turn: Turn) -> None:
    """What the bot holds about this account, and a button to erase it from closed cases."""
    inc = turn.incoming
    key = turn.services.vault.lookup_key(inc.channel, inc.user_id)
    cases = await repo.cases_of_reporter(turn.session, key, limit=100)
    lines = [turn.text("privacy.mydata_title")]
    closed = 0
    for case in cases:
        identity = turn.services.vault.decrypt(case.reporter_enc)
        held = [turn.text("privacy.held_chat")]
        if identity.get("name"):
            held.append(turn.text("privacy.held_name", value=identity["name"]))
        if identity.get("phone") or identity.get("contact"):
            held.append(
                turn.text("privacy.held_contact", value=identity.get("phone") or identity.get("contact"))
            )
        lines.append(f"• {case.reference} ({turn.text('status.' + case.status)}): " + ", ".join(held))
        closed += case.status in TERMINAL_STATES
    if not cases:
        lines.append(turn.text("privacy.nothing_held"))
    if turn.draft.started:
        lines.append(turn.text("privacy.held_draft"))
    buttons = [[Button(turn.text("privacy.erase_button"), "x.erase")]] if closed else []
    turn.replies.append(reply_with("\n".join(lines), *buttons))
    await append_event_for_request(turn, cases, "data_request")


async def append_event_for_request(turn: Turn, cases: Sequence[Case], kind: str) -> None:
    for case in cases:
        await append_event(
            turn.session, case_id=case.id or 0, org_id=case.org_id, kind=kind, actor="reporter",
            status=case.status, at=turn.now,
        )  # fmt: skip


async def erase_mine(turn: Turn) -> None:
    inc = turn.incoming
    key = turn.services.vault.lookup_key(inc.channel, inc.user_id)
    cases = [
        c for c in await repo.cases_of_reporter(turn.session, key, limit=100) if c.status in TERMINAL_STATES
    ]
    for case in cases:
        await erase_personal_data(turn.session, turn.services, case, reason="reporter_request", now=turn.now)
    log.info("personal data erased on request: %d case(s)", len(cases))
    turn.replies.append(Reply(text=turn.text("privacy.erased", count=len(cases))))
