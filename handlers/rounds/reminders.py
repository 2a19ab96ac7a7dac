"""Chasing progress reports: each division with unreported items in an open round is reminded at
the configured offsets before the due date (14, 7, 3, 1, 0 days) and daily once overdue; the
coordinators get a daily digest of who has not reported.

A reminder missed while the bot was down goes out on the next run, once (with the current count
of days); a restart never repeats one: the reminder log's key is written with the outbox message.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.cases.delivery import COORDINATORS, division_target
from handlers.core.work import Services
from handlers.rounds.periods import Round, open_rounds, unreported
from kernel.deadlines import format_date
from kernel.i18n import t
from kernel.messages import Reply
from kernel.org_config import OrgConfig
from storage import chats as chat_repo
from storage import upsert as upsert
from storage.models import PlanItem, ReminderLog
from storage.outbox import queue_message

log = logging.getLogger(__name__)
LANG = "th"
MAX_LISTED = 25


def plan_slot(org: OrgConfig, due: date, today: date) -> str | None:
    """The reminder phase a day is in: `d<offset>` before the due date, `late<n>` after it."""
    days_left = (due - today).days
    if days_left < 0:
        return f"late{-days_left}"
    phases = [o for o in org.plan.reminder_offsets_days if o >= days_left]
    return f"d{min(phases)}" if phases else None


async def send_plan_reminders(services: Services, now: datetime) -> int:
    sent = 0
    for org in services.orgs.all:
        local = now.astimezone(org.tz())
        if local.hour < org.plan.reminder_hour:
            continue
        org_id = services.directory.org_ids[org.code]
        codes = {
            div_id: code for (oc, code), div_id in services.directory.division_ids.items() if oc == org.code
        }
        async with services.db.session() as session:
            waiting: list[tuple[Round, str, int]] = []
            for r in await open_rounds(session, org, org_id, local.date()):
                slot = plan_slot(org, r.due, local.date())
                if slot is None:
                    continue
                for division_id, items in sorted(
                    (await unreported(session, org_id, r.fiscal_year, r.name)).items()
                ):
                    waiting.append((r, codes[division_id], len(items)))
                    # the due date is in the key: an extended round is reminded afresh
                    key = f"plan:{org.code}:{r.key}:{r.due.isoformat()}:{codes[division_id]}:{slot}"
                    if await _claim(session, key, now):
                        await _remind(
                            session, services, org, org_id, r, codes[division_id], items, local.date(), now
                        )
                        sent += 1
            sent += await _digest(session, services, org, org_id, waiting, local.date(), now)
            await session.commit()
    if sent:
        services.on_queued()
    return sent


async def _claim(session: AsyncSession, key: str, now: datetime) -> bool:
    return await upsert.insert_once(session, ReminderLog, {"key": key, "case_id": None, "sent_at": now})


def _due(org: OrgConfig, r: Round) -> str:
    return format_date(datetime.combine(r.due, time(12), org.tz()), lang=LANG, tz=org.tz())


async def _queue(
    session: AsyncSession, services: Services, org_id: int, target: str, text: str, now: datetime
) -> None:
    bindings = await chat_repo.bindings_for(session, org_id, target)
    if not bindings and target != COORDINATORS:
        # a division without a chat: its reminder goes to the coordinators rather than nowhere
        target, bindings = COORDINATORS, await chat_repo.bindings_for(session, org_id, COORDINATORS)
    for b in bindings:
        await queue_message(
            session, services.vault, org_id=org_id, case_id=None, kind="plan_reminder", target=target,
            channel=b.channel, chat_id=b.chat_id, reply=Reply(text=text), now=now,
        )  # fmt: skip
    if not bindings:
        log.warning("plan reminder has no chat to go to", extra={"target": target})


async def _remind(
    session: AsyncSession,
    services: Services,
    org: OrgConfig,
    org_id: int,
    r: Round,
    division: str,
    items: list[PlanItem],
    today: date,
    now: datetime,
) -> None:
    days_left = (r.due - today).days
    key = (
        "plan.reminder_late"
        if days_left < 0
        else "plan.reminder_today"
        if days_left == 0
        else "plan.reminder"
    )
    lines = [
        t(LANG, key, year=r.fiscal_year, round=t(LANG, f"plan.round_{r.name}"), due=_due(org, r),
          days=abs(days_left), count=len(items)),
    ]  # fmt: skip
    lines += [f"• {i.code} {i.title_th}" for i in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        lines.append(t(LANG, "plan.and_more", count=len(items) - MAX_LISTED))
    lines.append(t(LANG, "plan.reminder_howto"))
    await _queue(session, services, org_id, division_target(division), "\n".join(lines), now)


async def _digest(
    session: AsyncSession,
    services: Services,
    org: OrgConfig,
    org_id: int,
    waiting: list[tuple[Round, str, int]],
    today: date,
    now: datetime,
) -> int:
    if not waiting or not await _claim(session, f"plan-digest:{org.code}:{today.isoformat()}", now):
        return 0
    lines = [t(LANG, "plan.digest_title")]
    for r, division, count in waiting:
        lines.append(
            t(LANG, "plan.digest_line", year=r.fiscal_year, round=t(LANG, f"plan.round_{r.name}"),
              due=_due(org, r), division=org.division(division).name(LANG), count=count)
        )  # fmt: skip
    await _queue(session, services, org_id, COORDINATORS, "\n".join(lines), now)
    return 1
