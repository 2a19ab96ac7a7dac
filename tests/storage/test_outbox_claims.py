"""Security review D2: a stop must not leave claimed messages, and their chats, waiting the whole
lease (5 minutes). A clean stop gives its claims back; a restart of the same instance (the same
`DAMRONGTHAM_INSTANCE`) takes over what it had claimed at once; another instance's claims are left
to their lease, since that process may still be sending them. On both databases."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.outbox import OutboxDispatcher
from kernel.messages import Reply
from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import queue_message
from tests.support.clock import Clock
from tests.unit.test_outbox import FlakySender


class HangingSender:
    """Accepts a send and never answers: the message stays claimed while the process runs."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        self.started.set()
        await asyncio.Event().wait()
        return None


async def _queue(db: Database, vault, clock: Clock, *texts: str) -> None:  # type: ignore[no-untyped-def]
    async with db.session() as s:
        for text in texts:
            await queue_message(
                s, vault, org_id=None, case_id=None, kind="reply", target="reply", channel="test",
                chat_id="A", reply=Reply(text=text), now=clock(),
            )  # fmt: skip
        await s.commit()


async def _rows(db: Database) -> list[tuple[str, str | None]]:
    async with db.session() as s:
        found = await s.execute(
            select(OutboxMessage.status, OutboxMessage.claimed_by).order_by(OutboxMessage.id)
        )
        return [(status, by) for status, by in found.all()]


async def test_a_clean_stop_gives_its_claims_back_at_once(database: Database, vault, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    await _queue(database, vault, clock, "one", "two")
    hanging = HangingSender()
    stopping = OutboxDispatcher(database, vault, {"test": hanging}, clock=clock, instance="web-1")
    running = asyncio.create_task(stopping.run(idle_seconds=30))
    await asyncio.wait_for(hanging.started.wait(), timeout=5)
    assert await _rows(database) == [("sending", "web-1"), ("sending", "web-1")]
    running.cancel()  # a deploy's SIGTERM: the send in flight is abandoned
    await asyncio.gather(running, return_exceptions=True)
    assert await _rows(database) == [("pending", None), ("pending", None)]
    sender = FlakySender()
    await OutboxDispatcher(database, vault, {"test": sender}, clock=clock, instance="web-2").drain()
    assert sender.delivered == [("A", "one"), ("A", "two")]  # no lease to wait out, in order


async def test_a_restart_takes_over_its_own_claims_and_leaves_another_instances(
    database: Database, vault, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    await _queue(database, vault, clock, "mine")
    killed = OutboxDispatcher(database, vault, {"test": FlakySender()}, clock=clock, instance="web-1")
    assert len(await killed._claim()) == 1  # then SIGKILL: nothing runs after this
    other = OutboxDispatcher(database, vault, {"test": FlakySender()}, clock=clock, instance="web-2")
    if database.dialect == "postgresql":  # several processes share it: web-1 may still be sending
        assert await other.recover() == 0
        assert await _rows(database) == [("sending", "web-1")]
    sender = FlakySender()
    restarted = OutboxDispatcher(database, vault, {"test": sender}, clock=clock, instance="web-1")
    await restarted.recover()
    await restarted.drain()
    assert sender.delivered == [("A", "mine")]


async def test_on_sqlite_a_start_leaves_the_claims_of_channels_it_does_not_send(
    sqlite_database: Database, vault, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    """The bot sends; a desk-only server started beside it on the same file sends no channel of
    its own, and must not hand the bot's sends in flight back (they would go twice)."""
    await _queue(sqlite_database, vault, clock, "in flight")
    bot = OutboxDispatcher(sqlite_database, vault, {"test": FlakySender()}, clock=clock, instance="bot")
    assert len(await bot._claim()) == 1
    desk = OutboxDispatcher(sqlite_database, vault, {}, clock=clock, instance="desk")
    assert await desk.recover() == 0
    assert await _rows(sqlite_database) == [("sending", "bot")]
    restarted = OutboxDispatcher(
        sqlite_database, vault, {"test": FlakySender()}, clock=clock, instance="bot-2"
    )
    assert await restarted.recover() == 1  # the bot's own channel, after its restart: due again
