"""Settled delivery rows are deleted after their keeping period; nothing still in flight is touched."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.scheduler import HOUSEKEEPING_JOB, build_scheduler, run_housekeeping
from kernel.org_files import Organisations
from storage.crypto import Vault
from storage.db import Database
from storage.models import InboxEvent, LinePage, OutboxMessage, ProcessedUpdate, WebMessage
from tests.conftest import make_services
from tests.support.clock import Clock


async def test_settled_rows_go_after_their_period_and_the_rest_stay(
    database: Database, orgs: Organisations, vault: Vault, clock: Clock
) -> None:
    now = clock()
    day = timedelta(days=1)

    def outbox(name: str, status: str, age: timedelta, sent: bool = False) -> OutboxMessage:
        return OutboxMessage(
            kind=name, target="reply", channel="test", status=status, payload_enc="x",
            created_at=now - age, next_attempt_at=now - age, sent_at=now - age if sent else None,
        )  # fmt: skip

    def inbox(key: str, age: timedelta, *, handled: bool, attempts: int = 0) -> InboxEvent:
        return InboxEvent(
            channel="test", event_key=key, payload_enc="x", received_at=now - age,
            processed_at=now - age if handled else None, attempts=attempts,
        )  # fmt: skip

    async with database.session() as s:
        s.add_all(
            [
                ProcessedUpdate(channel="test", update_key="old", processed_at=now - 8 * day),
                ProcessedUpdate(channel="test", update_key="recent", processed_at=now - 6 * day),
                inbox("old-handled", 8 * day, handled=True),
                inbox("recent-handled", 6 * day, handled=True),
                inbox("old-set-aside", 31 * day, handled=False, attempts=5),
                inbox("recent-set-aside", 20 * day, handled=False, attempts=5),
                inbox("old-waiting", 40 * day, handled=False, attempts=2),  # still to be handled
                outbox("old-sent", "sent", 8 * day, sent=True),
                outbox("recent-sent", "sent", 6 * day, sent=True),
                outbox("old-failed", "failed", 31 * day),
                outbox("recent-failed", "failed", 20 * day),
                outbox("old-pending", "pending", 40 * day),  # waiting for a chat binding or a retry
                outbox("old-waiting-binding", "waiting_binding", 40 * day),
                outbox("old-sending", "sending", 40 * day),
                WebMessage(chat_key="old", author="bot", payload_enc="x", created_at=now - 91 * day),
                WebMessage(chat_key="recent", author="bot", payload_enc="x", created_at=now - 89 * day),
                LinePage(chat_key="old", reply_enc="x", updated_at=now - 8 * day),
                LinePage(chat_key="recent", reply_enc="x", updated_at=now - 6 * day),
            ]
        )
        await s.commit()

    services = await make_services(database, orgs, vault, clock)
    pruned = await run_housekeeping(services)
    assert (pruned.processed_updates, pruned.inbox_events, pruned.outbox_messages) == (1, 2, 2)
    assert pruned.web_messages == 1  # the web chat's messages outlive its 90-day cookie by nothing
    assert pruned.line_pages == 1  # a LINE list's "more" button answers for a week

    async with database.session() as s:
        updates = set((await s.execute(select(ProcessedUpdate.update_key))).scalars())
        events = set((await s.execute(select(InboxEvent.event_key))).scalars())
        messages = set((await s.execute(select(OutboxMessage.kind))).scalars())
    assert updates == {"recent"}
    assert events == {"recent-handled", "recent-set-aside", "old-waiting"}
    assert messages == {
        "recent-sent", "recent-failed", "old-pending", "old-waiting-binding", "old-sending",
    }  # fmt: skip
    assert (await run_housekeeping(services)).total == 0  # running again changes nothing


async def test_housekeeping_is_scheduled_hourly(
    sqlite_database: Database, orgs: Organisations, vault: Vault, clock: Clock
) -> None:
    scheduler = build_scheduler(await make_services(sqlite_database, orgs, vault, clock))
    job = scheduler.get_job(HOUSEKEEPING_JOB)
    assert job is not None and job.trigger.interval == timedelta(hours=1)
    assert job.max_instances == 1 and job.coalesce and job.misfire_grace_time >= 600
