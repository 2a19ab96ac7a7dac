"""APScheduler drives the periodic jobs; what is due is always computed from the database.

With several bot processes on PostgreSQL, an advisory lock elects the one that runs the job; the
reminder log's unique keys would stop duplicates anyway, the lock saves the others the work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text

from handlers.cases.anchors import publish_chain_head
from handlers.cases.reminders import send_due_reminders
from handlers.core.work import Services
from handlers.rounds.reminders import send_plan_reminders
from storage.housekeeping import Pruned, prune_delivery_records

log = logging.getLogger(__name__)
REMINDER_JOB = "reminders"
HOUSEKEEPING_JOB = "housekeeping"
ADVISORY_KEY = 0x44414D52  # "DAMR": one lock for the reminder job


async def run_reminder_job(services: Services) -> bool:
    """Case and plan reminders, once across processes; False when another process holds the job."""
    db = services.db
    if db.dialect != "postgresql":
        await _reminders(services)
        return True
    async with db.engine.connect() as conn:
        got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY})).scalar()
        await conn.commit()
        if not got:
            return False
        try:
            await _reminders(services)
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            await conn.commit()
    return True


async def _reminders(services: Services) -> None:
    sent = await send_due_reminders(services, services.clock())
    sent += await send_plan_reminders(services, services.clock())
    sent += await publish_chain_head(services, services.clock())
    services.metrics.reminders_sent += sent


async def run_housekeeping(services: Services) -> Pruned:
    """Delete settled delivery rows (idempotent: several processes may run it at once)."""
    async with services.db.session() as session:
        pruned = await prune_delivery_records(session, services.clock())
        await session.commit()
    if pruned.total:
        log.info(
            "delivery records pruned",
            extra={
                "processed_updates": pruned.processed_updates,
                "inbox_events": pruned.inbox_events,
                "outbox_messages": pruned.outbox_messages,
                "web_messages": pruned.web_messages,
                "line_pages": pruned.line_pages,
            },
        )
    return pruned


class JobScheduler(AsyncIOScheduler):  # type: ignore[misc]  # APScheduler has no type hints
    """APScheduler's, and it can wait for a job run still in flight when it stops: the database is
    closed right after, and a run cut off under it would hang or fail half-way."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.in_flight: set[asyncio.Task[Any]] = set()

    async def stop(self, *, within: float = 10.0) -> None:
        if not self.running:
            return
        self.pause()  # no new runs; shutting down at once would cancel the ones going
        if self.in_flight:
            _, going = await asyncio.wait(self.in_flight, timeout=within)
            if going:
                log.warning("a job run was still going after %.0f s; it is cancelled", within)
        self.shutdown(wait=False)


def build_scheduler(services: Services, *, every_seconds: int = 60) -> JobScheduler:
    scheduler = JobScheduler(timezone="UTC")

    async def reminders() -> None:
        try:
            await run_reminder_job(services)
        except Exception:
            services.metrics.errors["scheduler"] += 1
            log.exception("reminder job failed; it runs again at the next interval")

    async def housekeeping() -> None:
        try:
            await run_housekeeping(services)
        except Exception:
            services.metrics.errors["scheduler"] += 1
            log.exception("housekeeping failed; it runs again at the next interval")

    add_periodic(scheduler, REMINDER_JOB, reminders, every_seconds)
    add_periodic(scheduler, HOUSEKEEPING_JOB, housekeeping, 3600)
    return scheduler


def add_periodic(
    scheduler: AsyncIOScheduler, job_id: str, func: Callable[[], Awaitable[None]], every_seconds: int
) -> None:
    async def run() -> None:
        task = asyncio.current_task()
        in_flight = scheduler.in_flight if isinstance(scheduler, JobScheduler) else set()
        if task is not None:
            in_flight.add(task)
        try:
            await func()
        finally:
            in_flight.discard(task)

    # DESIGN.md rule 5: a fixed id, one instance, missed runs folded into one, and a generous
    # grace time (the default of 1 s silently drops a run that falls due during a restart).
    scheduler.add_job(
        run,
        "interval",
        seconds=every_seconds,
        id=job_id,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=3600,
    )
