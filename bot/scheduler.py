"""APScheduler drives the periodic jobs; what is due is always computed from the database."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from handlers.reminders import send_due_reminders
from handlers.turn import Services

log = logging.getLogger(__name__)
REMINDER_JOB = "case-reminders"


def build_scheduler(services: Services, *, every_seconds: int = 60) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")

    async def reminders() -> None:
        try:
            await send_due_reminders(services, services.clock())
        except Exception:
            log.exception("reminder job failed; it runs again at the next interval")

    add_periodic(scheduler, REMINDER_JOB, reminders, every_seconds)
    return scheduler


def add_periodic(
    scheduler: AsyncIOScheduler, job_id: str, func: Callable[[], Awaitable[None]], every_seconds: int
) -> None:
    # DESIGN.md rule 5: a fixed id, one instance, missed runs folded into one, and a generous
    # grace time (the default of 1 s silently drops a run that falls due during a restart).
    scheduler.add_job(
        func,
        "interval",
        seconds=every_seconds,
        id=job_id,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=3600,
    )
