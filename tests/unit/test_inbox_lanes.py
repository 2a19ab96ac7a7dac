"""The inbox handles chats side by side, each chat's events in order, and marks them in batches."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from typing import Any

from sqlalchemy import event

from bot.channels import line, telegram
from bot.inbox import Inbox
from storage.crypto import Vault
from storage.db import Database
from tests.support.inbox import all_marked, by_chat, inbox_rows


async def test_chats_are_handled_side_by_side_each_in_its_own_order(database: Database, vault: Vault) -> None:
    rnd = random.Random(7)
    seen: dict[str, list[int]] = defaultdict(list)
    running = peak = 0

    async def handler(event: dict[str, Any]) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(rnd.uniform(0, 0.01))  # a turn waits on the database and the network
        seen[event["chat"]].append(event["n"])
        running -= 1

    inbox = Inbox(database, vault)
    inbox.attach("telegram", handler, by_chat)
    events = [(f"{chat}-{n}", {"chat": chat, "n": n}) for n in range(12) for chat in "abcdef"]
    rnd.shuffle(events)  # arrival order across chats is anything; within a chat it is n
    events.sort(key=lambda e: e[1]["n"])
    assert len(await inbox.store_many("telegram", events)) == len(events)

    assert await inbox.handle_pending() == len(events)
    assert dict(seen) == {chat: list(range(12)) for chat in "abcdef"}
    assert peak > 1  # not one at a time
    rows = await inbox_rows(database)
    assert all(r.processed_at is not None for r in rows)
    assert all(vault.decrypt(r.payload_enc) == {} for r in rows)  # handled: no message content kept
    assert await inbox.handle_pending() == 0  # nothing is handled twice


async def test_a_failing_event_holds_back_only_its_own_chat(sqlite_database: Database, vault: Vault) -> None:
    broken = True
    seen: list[str] = []

    async def handler(event: dict[str, Any]) -> None:
        if event["text"] == "bad" and broken:
            raise RuntimeError("content server down")
        seen.append(event["text"])

    inbox = Inbox(sqlite_database, vault)
    inbox.attach("line", handler, by_chat)
    await inbox.store_many(
        "line",
        [
            ("1", {"chat": "A", "text": "a1"}),
            ("2", {"chat": "A", "text": "bad"}),
            ("3", {"chat": "B", "text": "b1"}),
            ("4", {"chat": "A", "text": "a2"}),
            ("5", {"chat": "B", "text": "b2"}),
        ],
    )
    assert await inbox.handle_pending() == 3
    assert seen == ["a1", "b1", "b2"]  # B goes on; A's a2 waits behind its failed event
    broken = False
    assert await inbox.handle_pending() == 2
    assert seen[3:] == ["bad", "a2"]  # in A's order
    assert [r.attempts for r in await inbox_rows(sqlite_database)] == [0, 1, 0, 0, 0]


async def test_deliveries_are_stored_once_in_one_transaction(database: Database, vault: Vault) -> None:
    inbox = Inbox(database, vault)
    assert await inbox.store_many("telegram", [("1", {"n": 1}), ("2", {"n": 2})]) == {"1", "2"}
    # a redelivery of "2" next to a new "3", and "3" twice in one delivery
    assert await inbox.store_many("telegram", [("2", {"n": 2}), ("3", {"n": 3}), ("3", {"n": 3})]) == {"3"}
    assert await inbox.store_many("telegram", []) == set()
    assert await inbox.store_many("telegram", [("1", {"n": 1})]) == set()  # all of it delivered before
    assert [r.event_key for r in await inbox_rows(database)] == ["1", "2", "3"]


async def test_the_running_inbox_handles_what_arrives_and_marks_it(database: Database, vault: Vault) -> None:
    seen: list[tuple[str, int]] = []
    all_seen = asyncio.Event()

    async def handler(event: dict[str, Any]) -> None:
        seen.append((event["chat"], event["n"]))
        if len(seen) == 30:
            all_seen.set()

    inbox = Inbox(database, vault)
    inbox.attach("telegram", handler, by_chat)
    task = asyncio.create_task(inbox.run(idle_seconds=0.05))
    try:
        for n in range(10):
            await inbox.store_many("telegram", [(f"{c}{n}", {"chat": c, "n": n}) for c in "xyz"])
            await asyncio.sleep(0.005)
        await asyncio.wait_for(all_seen.wait(), timeout=10)
        marked = await all_marked(database)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert marked
    for chat in "xyz":
        assert [n for c, n in seen if c == chat] == list(range(10))


async def test_handled_events_are_marked_in_batches_not_at_every_delivery(
    sqlite_database: Database, vault: Vault
) -> None:
    """Deliveries arriving one at a time wake the inbox each time; marking what was handled at every
    wake cost a write transaction per delivery (on SQLite, the single writer's time)."""
    database = sqlite_database
    marks: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE INBOX"):
            marks.append(statement)

    for engine in database.sync_engines:
        event.listen(engine, "before_cursor_execute", count)
    seen: list[int] = []
    inbox = Inbox(database, vault)
    inbox.attach("telegram", lambda e: _note(seen, e), by_chat)
    task = asyncio.create_task(inbox.run(idle_seconds=0.05))
    try:
        for n in range(40):  # 40 deliveries within about 0.4 s
            await inbox.store_many("telegram", [(f"u{n}", {"chat": n, "n": n})])
            await asyncio.sleep(0.01)
        marked = await all_marked(database)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for engine in database.sync_engines:
            event.remove(engine, "before_cursor_execute", count)
    assert sorted(seen) == list(range(40)) and marked
    # every MARK_EVERY handled or MARK_WITHIN seconds: a few statements, not one per delivery
    assert 1 <= len(marks) <= 8, len(marks)


async def _note(seen: list[int], event: dict[str, Any]) -> None:
    seen.append(event["n"])


def test_each_update_and_event_names_its_chat() -> None:
    chat = {"id": -1001, "type": "supergroup"}
    user = {"id": 42, "is_bot": False, "first_name": "Somchai"}
    assert (
        telegram.lane({"update_id": 1, "message": {"message_id": 5, "chat": chat, "from": user}}) == "-1001"
    )
    press = {"id": "q", "from": user, "message": {"message_id": 6, "chat": chat}, "data": "1.x"}
    assert telegram.lane({"update_id": 2, "callback_query": press}) == "-1001"
    # a press on an inline message has no chat: its user's private chat shares the user's id
    assert telegram.lane({"update_id": 3, "callback_query": {"id": "q", "from": user, "data": "x"}}) == "42"
    assert telegram.lane({"update_id": 4, "my_chat_member": {"chat": chat, "from": user}}) == "-1001"
    assert line.lane({"type": "message", "source": {"type": "user", "userId": "U1"}}) == "U1"
    assert (
        line.lane({"type": "message", "source": {"type": "group", "groupId": "G1", "userId": "U1"}}) == "G1"
    )
    assert line.lane({"type": "join", "source": {"type": "room", "roomId": "R1"}}) == "R1"
