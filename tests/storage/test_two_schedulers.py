"""Two bot processes on one PostgreSQL database: one runs the reminder job, each reminder goes once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlmodel import col

from bot.scheduler import ADVISORY_KEY, build_scheduler, run_reminder_job
from kernel.org_files import load_organisations
from storage import chats as chat_repo
from storage.crypto import Vault
from storage.db import Database
from storage.models import OutboxMessage, ReminderLog
from storage.plan import upsert_item
from tests.conftest import make_database, make_services
from tests.support.clock import Clock


async def _process(url: str, vault: Vault, clock: Clock):  # type: ignore[no-untyped-def]
    """What one bot process holds: its own engine and services over the shared database."""
    db = Database(url)
    services = await make_services(db, load_organisations(""), vault, clock)
    return db, services


async def _seed(db: Database, services, vault: Vault, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    d = services.directory
    async with db.session() as s:
        for code in ("office", "finance"):
            await chat_repo.bind_chat(
                s,
                org_id=d.org_ids["CM"],
                target=f"division:{code}",
                division_id=d.division_ids[("CM", code)],
                channel="telegram",
                chat_id=f"-100{len(code)}",
                vault=vault,
            )
        for n, division in enumerate(("office", "finance", "finance")):
            await upsert_item(
                s,
                org_id=d.org_ids["CM"],
                code=f"2.{n}",
                now=clock(),
                values={
                    "title_th": "x",
                    "title_en": "x",
                    "dimension": 2,
                    "division_id": d.division_ids[("CM", division)],
                    "fiscal_years": "2570",
                    "budget": None,
                },
            )
        await s.commit()


async def test_two_schedulers_on_one_database_send_each_reminder_once(pg_url: str, vault: Vault) -> None:
    clock = Clock(datetime(2027, 3, 27, 3, 0, tzinfo=UTC))  # 14 days before the 6-month round is due
    seed_db = await make_database(pg_url)
    first_db, first = await _process(pg_url, vault, clock)
    second_db, second = await _process(pg_url, vault, clock)
    await _seed(first_db, first, vault, clock)
    schedulers = [build_scheduler(first, every_seconds=1), build_scheduler(second, every_seconds=1)]
    try:
        for scheduler in schedulers:
            scheduler.start()
        await asyncio.sleep(3.5)  # several runs of each
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=False)
    async with first_db.session() as s:
        keys = list((await s.execute(select(ReminderLog.key).order_by(ReminderLog.key))).scalars())
        queued = (
            await s.execute(
                select(func.count())
                .select_from(OutboxMessage)
                .where(col(OutboxMessage.kind) == "plan_reminder")
            )
        ).scalar_one()
    assert keys == [
        "plan-digest:CM:2027-03-27",
        "plan:CM:2570-6m:2027-04-10:finance:d14",
        "plan:CM:2570-6m:2027-04-10:office:d14",
    ]
    assert queued == 2  # the digest waits for a coordinators' chat; finance and office once each
    for db in (seed_db, first_db, second_db):
        await db.dispose()


async def test_the_job_steps_aside_while_another_process_holds_it(pg_url: str, vault: Vault) -> None:
    clock = Clock(datetime(2027, 3, 27, 3, 0, tzinfo=UTC))
    seed_db = await make_database(pg_url)
    db, services = await _process(pg_url, vault, clock)
    await _seed(db, services, vault, clock)
    async with seed_db.engine.connect() as holder:
        assert (await holder.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY})).scalar()
        assert await run_reminder_job(services) is False
        await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
    assert await run_reminder_job(services) is True
    await db.dispose()
    await seed_db.dispose()
