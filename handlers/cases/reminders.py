"""Case deadline reminders and the coordinators' daily digest of overdue cases.

Computed from the database on every run; the reminder log's unique key, written in the same
transaction as the outbox message, makes each reminder go out once, across restarts and processes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from handlers.cases.delivery import COORDINATORS, notify_divisions, queue_for
from handlers.core.work import Services
from kernel.deadlines import format_datetime
from kernel.i18n import t
from kernel.lifecycle import OPEN_STATES
from kernel.messages import Reply
from kernel.org_config import OrgConfig
from storage import chats as chat_repo
from storage import upsert as upsert
from storage.case_context import case_division_codes
from storage.models import Case, ReminderLog

log = logging.getLogger(__name__)
LANG = "th"  # staff chats


@dataclass(frozen=True)
class Due:
    kind: str  # ack | reply | update
    at: datetime


def deadlines_of(case: Case) -> list[Due]:
    """The deadlines a case still has to meet."""
    if case.status not in OPEN_STATES:
        return []
    dues = [Due("update", case.update_due_at)]
    if case.acknowledged_at is None:
        dues.append(Due("ack", case.ack_due_at))
    if case.replied_at is None:
        dues.append(Due("reply", case.reply_due_at))
    return dues


def reminder_slot(case: Case, due: Due, now: datetime, before: timedelta) -> str | None:
    """The latest reminder due by `now`: "before", or "late<n>" for the n-th day after the deadline.

    Missed earlier slots (the bot was down) are not sent late: only the current one is.
    """
    # never remind before the case exists: a short deadline is reminded halfway
    lead = min(before, (due.at - case.created_at) / 2)
    if now < due.at - lead:
        return None
    if now < due.at:
        return "before"
    return f"late{(now - due.at).days}"


async def _claim(session: AsyncSession, key: str, case_id: int | None, now: datetime) -> bool:
    return await upsert.insert_once(session, ReminderLog, {"key": key, "case_id": case_id, "sent_at": now})


async def send_due_reminders(services: Services, now: datetime) -> int:
    """One run of the periodic job: returns how many reminders it queued."""
    sent = 0
    for org in services.orgs.all:
        if not org.office().is_open(now):
            continue  # nobody reads a reminder at 3 a.m.: the current one goes at the next opening
        org_id = services.directory.org_ids[org.code]
        async with services.db.session() as session:
            cases = (
                await session.execute(
                    select(Case).where(col(Case.org_id) == org_id, col(Case.status).in_(OPEN_STATES))
                )
            ).scalars()
            overdue: list[tuple[Case, Due]] = []
            before = timedelta(hours=org.deadlines.remind_before_hours)
            for case in list(cases):
                for due in deadlines_of(case):
                    slot = reminder_slot(case, due, now, before)
                    if slot is None:
                        continue
                    if slot != "before":
                        overdue.append((case, due))
                    key = f"case:{case.id}:{due.kind}:{due.at.isoformat()}:{slot}"
                    if await _claim(session, key, case.id, now):
                        await _remind(session, services, org, case, due, slot, now)
                        sent += 1
            sent += await _digest(session, services, org, org_id, overdue, now)
            await session.commit()
    if sent:
        services.on_queued()
        log.info("reminders queued: %d", sent)
    return sent


async def _remind(
    session: AsyncSession, services: Services, org: OrgConfig, case: Case, due: Due, slot: str, now: datetime
) -> None:
    key = "reminders.before" if slot == "before" else "reminders.late"
    text = t(
        LANG,
        key,
        reference=case.reference,
        deadline=t(LANG, f"reminders.{due.kind}"),
        due=format_datetime(due.at, lang=LANG, tz=org.tz()),
        days=max(1, (now - due.at).days + 1),
    )
    codes = await case_division_codes(session, case.id or 0, "primary")
    chats = [
        (b.channel, b.chat_id)
        for c in codes
        for b in await chat_repo.bindings_for(session, case.org_id, f"division:{c}")
    ]
    if chats:
        await notify_divisions(session, services, case, codes, [Reply(text=text)], now=now, kind="reminder")
        return
    # no responsible division (a conflict of interest) or no chat for it: the coordinators are reminded
    coordinators = [
        (b.channel, b.chat_id) for b in await chat_repo.bindings_for(session, case.org_id, COORDINATORS)
    ]
    await queue_for(
        session, services, case, coordinators, COORDINATORS, [Reply(text=text)], now=now, kind="reminder"
    )


async def _digest(
    session: AsyncSession,
    services: Services,
    org: OrgConfig,
    org_id: int,
    overdue: list[tuple[Case, Due]],
    now: datetime,
) -> int:
    """Once a day, from the configured local hour: every overdue case, to the coordinators."""
    local = now.astimezone(org.tz())
    if not overdue or local.hour < org.deadlines.digest_hour:
        return 0
    if not await _claim(session, f"digest:{org.code}:{local.date().isoformat()}", None, now):
        return 0
    lines = [t(LANG, "reminders.digest_title", count=len({c.id for c, _ in overdue}))]
    for case, due in sorted(overdue, key=lambda cd: cd[1].at):
        lines.append(
            t(
                LANG,
                "reminders.digest_line",
                reference=case.reference,
                deadline=t(LANG, f"reminders.{due.kind}"),
                due=format_datetime(due.at, lang=LANG, tz=org.tz()),
                divisions=", ".join(
                    org.division(c).name(LANG) for c in await case_division_codes(session, case.id or 0)
                )
                or t(LANG, "card.coordinators"),
            )
        )
    chats = [(b.channel, b.chat_id) for b in await chat_repo.bindings_for(session, org_id, COORDINATORS)]
    first_case = overdue[0][0]
    await queue_for(session, services, first_case, chats, COORDINATORS, [Reply(text="\n".join(lines))],
                    now=now, kind="digest")  # fmt: skip
    return 1
