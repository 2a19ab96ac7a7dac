"""The outbox dispatcher: order per chat, waits when asked, retries failures, never loses a message."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, select

from bot.channels.base import PermanentFailure, RetryLater
from bot.outbox import MARK_WITHIN, OutboxDispatcher
from bot.outbox.dispatcher import PER_CHAT
from kernel.messages import Reply
from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import OutboxRow, queue_message
from tests.support.clock import Clock


@dataclass
class FlakySender:
    """Fails as scripted per text, then delivers."""

    script: dict[str, list[Exception]] = field(default_factory=dict)
    delivered: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        failures = self.script.get(reply.text, [])
        if failures:
            raise failures.pop(0)
        self.delivered.append((chat_id, reply.text))
        return None


async def _queue(db: Database, vault, clock: Clock, chat_id: str, *texts: str) -> None:  # type: ignore[no-untyped-def]
    async with db.session() as s:
        for text in texts:
            await queue_message(
                s, vault, org_id=None, case_id=None, kind="reply", target="reply", channel="test",
                chat_id=chat_id, reply=Reply(text=text), now=clock(),
            )  # fmt: skip
        await s.commit()


async def _statuses(db: Database) -> dict[str, str]:
    async with db.session() as s:
        rows = (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
        return {str(r.id): r.status for r in rows}


async def test_retry_after_holds_the_chat_and_keeps_order(sqlite_database, vault, clock) -> None:  # type: ignore[no-untyped-def]
    sender = FlakySender({"a1": [RetryLater(3)]})
    dispatcher = OutboxDispatcher(sqlite_database, vault, {"test": sender}, clock=clock)
    await _queue(sqlite_database, vault, clock, "A", "a1", "a2")
    await _queue(sqlite_database, vault, clock, "B", "b1")
    await dispatcher.drain()
    assert sender.delivered == [("B", "b1")]  # a2 waits behind a1
    clock.advance(seconds=3)
    await dispatcher.drain()
    assert sender.delivered == [("B", "b1"), ("A", "a1"), ("A", "a2")]
    assert set((await _statuses(sqlite_database)).values()) == {"sent"}


async def test_errors_back_off_then_deliver_once(sqlite_database, vault, clock) -> None:  # type: ignore[no-untyped-def]
    sender = FlakySender({"x": [ConnectionError("down"), TimeoutError()]})
    dispatcher = OutboxDispatcher(sqlite_database, vault, {"test": sender}, clock=clock)
    await _queue(sqlite_database, vault, clock, "A", "x")
    for _ in range(3):
        await dispatcher.drain()
        clock.advance(seconds=10)
    assert sender.delivered == [("A", "x")]
    async with sqlite_database.session() as s:
        row = (await s.execute(select(OutboxMessage))).scalar_one()
        assert row.status == "sent" and row.attempts == 2 and row.payload_enc is None


async def test_permanent_failure_is_recorded_and_does_not_block_others(sqlite_database, vault, clock) -> None:  # type: ignore[no-untyped-def]
    sender = FlakySender({"gone": [PermanentFailure("chat not found")]})
    dispatcher = OutboxDispatcher(sqlite_database, vault, {"test": sender}, clock=clock)
    await _queue(sqlite_database, vault, clock, "A", "gone", "next")
    await dispatcher.drain()
    assert sender.delivered == [("A", "next")]
    assert sorted((await _statuses(sqlite_database)).values()) == ["failed", "sent"]


async def test_a_claimed_message_lost_in_a_crash_is_sent_after_its_lease(
    sqlite_database, vault, clock
) -> None:  # type: ignore[no-untyped-def]
    await _queue(sqlite_database, vault, clock, "A", "m")
    crashed = OutboxDispatcher(sqlite_database, vault, {"test": FlakySender()}, clock=clock)
    claimed = await crashed._claim()  # the process dies before sending
    assert len(claimed) == 1
    sender = FlakySender()
    fresh = OutboxDispatcher(sqlite_database, vault, {"test": sender}, clock=clock)
    await fresh.drain()
    assert sender.delivered == []  # still leased
    clock.advance(minutes=6)
    await fresh.drain()
    assert sender.delivered == [("A", "m")]


async def test_messages_for_other_channels_are_left_alone(sqlite_database, vault, clock) -> None:  # type: ignore[no-untyped-def]
    await _queue(sqlite_database, vault, clock, "A", "m")
    dispatcher = OutboxDispatcher(sqlite_database, vault, {"telegram": FlakySender()}, clock=clock)
    assert await dispatcher.drain() == 0
    assert list((await _statuses(sqlite_database)).values()) == ["pending"]


async def test_an_unreadable_row_is_marked_failed_and_does_not_block_others(
    sqlite_database, vault, clock
) -> None:  # type: ignore[no-untyped-def]
    await _queue(sqlite_database, vault, clock, "A", "first", "second")
    async with sqlite_database.session() as s:
        row = (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().first()
        row.chat_enc = "garbage"
        await s.commit()
    sender = FlakySender()
    await OutboxDispatcher(sqlite_database, vault, {"test": sender}, clock=clock).drain()
    assert sender.delivered == [("A", "second")]
    assert sorted((await _statuses(sqlite_database)).values()) == ["failed", "sent"]


async def test_a_moved_chat_takes_its_binding_along(sqlite_database, vault, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.channels.base import ChatMoved
    from storage.models import ChatBinding, Organisation

    async with sqlite_database.session() as s:
        s.add(Organisation(code="CM", name_th="x", name_en="x"))
        await s.flush()
        s.add(ChatBinding(org_id=1, target="division:office", channel="test", chat_id="-1"))
        await s.commit()
    await _queue(sqlite_database, vault, clock, "-1", "card")
    sender = FlakySender({"card": [ChatMoved("-1009")]})
    await OutboxDispatcher(sqlite_database, vault, {"test": sender}, clock=clock).drain()
    assert sender.delivered == [("-1009", "card")]
    async with sqlite_database.session() as s:
        assert (await s.execute(select(ChatBinding.chat_id))).scalar_one() == "-1009"


async def test_long_text_is_queued_in_pieces_and_a_retry_never_repeats_a_sent_piece(
    sqlite_database, vault, clock
) -> None:  # type: ignore[no-untyped-def]
    long_text = "\n".join(f"บรรทัด {i} " + "ก" * 80 for i in range(100))  # about 9,000 characters
    async with sqlite_database.session() as s:
        await queue_message(
            s, vault, org_id=None, case_id=None, kind="reply", target="reply", channel="test", chat_id="A",
            reply=Reply(text=long_text, buttons=[[]]), now=clock(),
        )  # fmt: skip
        await s.commit()
    pieces = await _statuses(sqlite_database)
    assert len(pieces) == 3
    sender = FlakySender()
    dispatcher = OutboxDispatcher(sqlite_database, vault, {"test": sender}, clock=clock)
    original = sender.send
    calls = {"n": 0}

    async def fail_second_once(chat_id: str, reply: Reply) -> str | None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("network dropped")
        return await original(chat_id, reply)

    sender.send = fail_second_once  # type: ignore[method-assign]
    await dispatcher.drain()
    clock.advance(seconds=5)
    await dispatcher.drain()
    texts = [text for _, text in sender.delivered]
    assert len(texts) == 3 and "\n".join(texts).replace("\n", "") == long_text.replace("\n", "")
    assert all(len(t) <= 4000 for t in texts)


async def test_a_long_queue_for_a_held_chat_never_stalls_the_others(sqlite_database, vault, clock) -> None:  # type: ignore[no-untyped-def]
    sender = FlakySender({"g0": [RetryLater(60)]})  # the group is over its limit for a minute
    await _queue(sqlite_database, vault, clock, "-100", *[f"g{n}" for n in range(120)])
    await _queue(sqlite_database, vault, clock, "A", "a0", "a1")
    dispatcher = OutboxDispatcher(sqlite_database, vault, {"test": sender}, clock=clock, batch=50)
    await dispatcher.drain()
    await dispatcher.drain()
    assert ("A", "a0") in sender.delivered and ("A", "a1") in sender.delivered
    assert not any(chat == "-100" for chat, _ in sender.delivered)


async def test_chats_take_turns_so_a_long_queue_never_delays_another_chats_next_message(
    database: Database, vault, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    """After a burst of reports the staff group has a hundred cards to go, one after another; the
    citizen in the middle of a dialogue gets the next question in the first pass all the same."""
    sender = FlakySender()
    await _queue(database, vault, clock, "-100", *[f"g{n}" for n in range(100)])
    await _queue(database, vault, clock, "A", "a0")
    dispatcher = OutboxDispatcher(database, vault, {"test": sender}, clock=clock, batch=50)
    await dispatcher.send_due()
    assert ("A", "a0") in sender.delivered
    assert [text for chat, text in sender.delivered if chat == "-100"] == [f"g{n}" for n in range(PER_CHAT)]
    # a chat's full share means more may be due: a drain goes on to the end, in order
    assert await dispatcher.drain() == 100 - PER_CHAT
    assert [text for chat, text in sender.delivered if chat == "-100"] == [f"g{n}" for n in range(100)]


async def test_transient_failures_are_retried_for_a_day_then_reported(sqlite_database, vault, clock) -> None:  # type: ignore[no-untyped-def]
    refused: list[int | None] = []

    async def undeliverable(row: OutboxRow) -> None:
        refused.append(row.id)

    sender = FlakySender({"x": [ConnectionError("LINE 503")] * 100})
    dispatcher = OutboxDispatcher(
        sqlite_database, vault, {"test": sender}, clock=clock, on_undeliverable=undeliverable
    )
    await _queue(sqlite_database, vault, clock, "A", "x")
    for _ in range(12):  # an outage of an hour: still pending, nobody alerted
        await dispatcher.drain()
        clock.advance(minutes=5)
    assert list((await _statuses(sqlite_database)).values()) == ["pending"] and refused == []
    clock.advance(hours=24)
    await dispatcher.drain()
    assert list((await _statuses(sqlite_database)).values()) == ["failed"] and len(refused) == 1


async def test_chats_are_sent_to_side_by_side_each_in_its_own_order(
    database: Database, vault, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    @dataclass
    class SlowSender:
        """A platform that takes a moment to answer each send."""

        delivered: list[tuple[str, str]] = field(default_factory=list)
        under_way: int = 0
        most: int = 0

        async def send(self, chat_id: str, reply: Reply) -> str | None:
            self.under_way += 1
            self.most = max(self.most, self.under_way)
            await asyncio.sleep(0.01)
            self.under_way -= 1
            self.delivered.append((chat_id, reply.text))
            return None

    sender = SlowSender()
    chats = [str(100 + n) for n in range(12)]
    for n in range(4):
        for chat in chats:
            await _queue(database, vault, clock, chat, f"{chat}-{n}")
    dispatcher = OutboxDispatcher(database, vault, {"test": sender}, clock=clock)
    assert await dispatcher.drain() == 48
    for chat in chats:
        assert [text for c, text in sender.delivered if c == chat] == [f"{chat}-{n}" for n in range(4)]
    assert 1 < sender.most <= 8  # side by side, within the dispatcher's limit
    async with database.session() as s:
        assert {row.status for row in (await s.execute(select(OutboxMessage))).scalars()} == {"sent"}


async def test_a_pass_records_what_went_before_it_ends_so_a_kill_repeats_only_the_sends_in_flight(
    database: Database, vault, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    sender = FlakySender()
    dispatcher = OutboxDispatcher(database, vault, {"test": sender}, clock=clock)
    await _queue(database, vault, clock, "A", "a1")
    assert await dispatcher.send_due() == 1
    # recorded already: a process killed now, restarted, has nothing to send again
    assert list((await _statuses(database)).values()) == ["sent"]
    restarted = OutboxDispatcher(database, vault, {"test": sender}, clock=clock)
    assert await restarted.recover() == 0 and await restarted.drain() == 0
    await _queue(database, vault, clock, "A", "a2")
    assert await dispatcher.send_due() == 1
    assert sender.delivered == [("A", "a1"), ("A", "a2")]
    assert list((await _statuses(database)).values()) == ["sent", "sent"]


async def test_the_running_dispatcher_records_deliveries_within_a_moment_and_when_stopped(
    sqlite_database: Database, vault, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    sender = FlakySender()
    dispatcher = OutboxDispatcher(sqlite_database, vault, {"test": sender}, clock=clock)
    running = asyncio.create_task(dispatcher.run(idle_seconds=30))
    try:
        await _queue(sqlite_database, vault, clock, "A", "a1")
        dispatcher.kick()
        await asyncio.wait_for(dispatcher.settled.wait(), timeout=5)
        assert sender.delivered == [("A", "a1")]
        # no new message comes to start a pass: the deliveries are recorded after MARK_WITHIN
        await asyncio.sleep(MARK_WITHIN + 1)
        assert list((await _statuses(sqlite_database)).values()) == ["sent"]
        await _queue(sqlite_database, vault, clock, "B", "b1")
        dispatcher.kick()
        await asyncio.wait_for(dispatcher.settled.wait(), timeout=5)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert sender.delivered == [("A", "a1"), ("B", "b1")]
    assert list((await _statuses(sqlite_database)).values()) == ["sent", "sent"]  # recorded on stopping


async def test_while_messages_keep_coming_each_pass_is_one_write(
    sqlite_database: Database, vault, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    """A pass kicked again while it sends leaves its deliveries to the next pass's claim, which
    records them in its own transaction, instead of a transaction of their own."""
    db = sqlite_database
    statements: dict[int, list[str]] = {}
    alone: list[list[str]] = []  # transactions that only recorded deliveries

    def seen(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):  # spelled out on SQLite's short writes
            statements.setdefault(id(conn), []).append(statement.lstrip().upper())

    def committed(conn: Any) -> None:
        done = statements.pop(id(conn), [])
        if done and all(s.startswith("UPDATE OUTBOX") and "RETURNING" not in s for s in done):
            alone.append(done)

    class Busy(FlakySender):
        async def send(self, chat_id: str, reply: Reply) -> str | None:
            if len(self.delivered) < 20:  # while it sends, the next message is queued
                await _queue(db, vault, clock, f"C{len(self.delivered)}", f"m{len(self.delivered)}")
                dispatcher.kick()
            return await super().send(chat_id, reply)

    sender = Busy()
    dispatcher = OutboxDispatcher(db, vault, {"test": sender}, clock=clock)
    for engine in db.sync_engines:
        event.listen(engine, "before_cursor_execute", seen)
        event.listen(engine, "commit", committed)
    running = asyncio.create_task(dispatcher.run(idle_seconds=30))
    try:
        await _queue(db, vault, clock, "A", "a1")
        dispatcher.kick()
        for _ in range(100):
            if len(sender.delivered) == 21 and set((await _statuses(db)).values()) == {"sent"}:
                break
            await asyncio.sleep(0.05)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        for engine in db.sync_engines:
            event.remove(engine, "before_cursor_execute", seen)
            event.remove(engine, "commit", committed)
    assert len(sender.delivered) == 21 and set((await _statuses(db)).values()) == {"sent"}
    assert len(alone) <= 2, alone  # the last pass's (and perhaps one more); not one per pass


def test_a_queued_reply_is_stored_whole_and_read_back_the_same() -> None:
    from dataclasses import asdict

    from kernel.messages import Button, Media

    replies = [
        Reply(text="สวัสดี", buttons=[[Button("ใช่", "0.yes"), Button("แชร์", "loc", "location")]]),
        Reply(media=Media("photo", file_id="AgAD", caption="หลักฐาน"), remove_keyboard=True),
        Reply(text="แก้ไข", edit_message_id="42", force_reply=True),
    ]
    for reply in replies:
        assert reply.to_dict() == asdict(reply)  # every field, as dataclasses would give it
        assert Reply.from_dict(reply.to_dict()) == reply


async def test_the_claim_reads_a_chats_waiting_messages_not_all_it_was_ever_sent(
    sqlite_database,
    vault,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    """A staff group is sent thousands of cards a year: "an earlier message to this chat still
    waits" is looked up through the index of a chat's messages by status, not by walking them."""
    sender = FlakySender()
    dispatcher = OutboxDispatcher(sqlite_database, vault, {"test": sender}, clock=clock)
    await _queue(sqlite_database, vault, clock, "group", *(f"old {n}" for n in range(30)))
    await dispatcher.drain()
    await _queue(sqlite_database, vault, clock, "group", "new")
    claims: list[tuple[str, Any]] = []

    def seen(_conn: object, _cursor: object, statement: str, parameters: Any, *_args: object) -> None:
        if statement.startswith("UPDATE outbox SET status"):
            claims.append((statement, parameters))

    for engine in sqlite_database.sync_engines:
        event.listen(engine, "before_cursor_execute", seen)
    try:
        await dispatcher.drain()
    finally:
        for engine in sqlite_database.sync_engines:
            event.remove(engine, "before_cursor_execute", seen)
    assert sender.delivered[-1] == ("group", "new") and claims
    statement, parameters = claims[0]
    async with sqlite_database.session() as s:
        connection = await s.connection()
        plan = (await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)).all()
    details = [row[-1] for row in plan]
    assert any("earlier USING COVERING INDEX ix_outbox_chat_waiting" in d for d in details), details
