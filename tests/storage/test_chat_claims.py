"""Several processes on one PostgreSQL database: a chat's incoming events are handled by the one
process that claimed the chat, each once and in order, and a dead process's chats are taken over
at once."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter, defaultdict
from typing import Any

import pytest

from bot.inbox import Inbox
from storage.chat_claims import CLAIM_SPACE, ChatClaims, ClaimsLost
from storage.crypto import Vault
from storage.db import Database
from tests.support.inbox import all_marked, by_chat
from tests.support.locks import kill_lock_holders


async def test_a_chat_is_claimed_by_one_process_until_it_lets_go(
    processes: tuple[Database, Database],
) -> None:
    a, b = ChatClaims(processes[0]), ChatClaims(processes[1])
    assert await a.claim(["x", "y"]) == {"x", "y"}
    assert await b.claim(["y", "z"]) == {"z"}
    assert await a.claim(["x", "z"]) == {"x"}  # held already: no second lock taken
    await a.release(["y"])
    assert await b.claim(["y"]) == {"y"}
    await a.release(["x"])
    assert a.held == set()
    assert processes[0].engine.pool.checkedout() == 0  # nothing held: the connection went back
    await b.close()
    assert await a.claim(["y", "z"]) == {"y", "z"}
    await a.close()


async def test_a_dead_process_s_chats_are_claimed_at_once(processes: tuple[Database, Database]) -> None:
    a, b = ChatClaims(processes[0]), ChatClaims(processes[1])
    assert await a.claim(["x"]) == {"x"}
    assert await b.claim(["x"]) == set()
    await kill_lock_holders(processes[1], CLAIM_SPACE)
    assert await b.claim(["x"]) == {"x"}  # no lease to wait out
    await b.close()
    with pytest.raises(ClaimsLost):  # the dead one learns it at its next statement
        await a.release(["x"])
    assert a.held == set()


async def _run(inboxes: list[Inbox]) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(inbox.run(idle_seconds=0.05)) for inbox in inboxes]


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_two_processes_handle_each_event_once_and_each_chat_in_order(
    processes: tuple[Database, Database], vault: Vault
) -> None:
    """Webhooks reach either process; each event is handled once, by one process at a time per
    chat, in the order the chat's events were stored."""
    rnd = random.Random(18)
    handled: list[tuple[str, str, int]] = []  # (process, chat, n)
    busy: Counter[str] = Counter()  # chat -> turns running now, across both processes
    overlaps = 0

    def handler(name: str):  # type: ignore[no-untyped-def]
        async def handle(event: dict[str, Any]) -> None:
            nonlocal overlaps
            busy[event["chat"]] += 1
            overlaps += busy[event["chat"]] > 1
            await asyncio.sleep(rnd.uniform(0, 0.01))
            handled.append((name, event["chat"], event["n"]))
            busy[event["chat"]] -= 1

        return handle

    inboxes = [Inbox(db, vault) for db in processes]
    for name, inbox in zip("ab", inboxes, strict=True):
        inbox.attach("telegram", handler(name), by_chat)
    tasks = await _run(inboxes)
    chats = [f"c{n}" for n in range(12)]
    try:
        for n in range(10):
            for chat in chats:  # each delivery reaches one of the two, as a load balancer deals them
                await rnd.choice(inboxes).store("telegram", f"{chat}-{n}", {"chat": chat, "n": n})
            await asyncio.sleep(0.01)
        for _ in range(200):
            if len(handled) >= len(chats) * 10:
                break
            await asyncio.sleep(0.05)
        marked = await all_marked(processes[0])
        await asyncio.sleep(0.3)  # time for a second handling, were there one
    finally:
        await _stop(tasks)
    assert marked
    assert Counter((chat, n) for _, chat, n in handled) == {(c, n): 1 for c in chats for n in range(10)}
    per_chat: dict[str, list[int]] = defaultdict(list)
    for _, chat, n in handled:
        per_chat[chat].append(n)
    assert all(ns == list(range(10)) for ns in per_chat.values())
    assert overlaps == 0
    assert {name for name, _, _ in handled} == {"a", "b"}  # both processes did some of the work
    for db in processes:
        assert db.engine.pool.checkedout() == 0  # stopped: every claim let go


async def test_the_chats_of_a_process_that_died_go_on_in_the_other_within_a_second(
    processes: tuple[Database, Database], vault: Vault
) -> None:
    stuck = asyncio.Event()  # the first process hangs in its turn, then loses its connection
    handled: list[tuple[str, int]] = []
    both = asyncio.Event()

    async def hangs(event: dict[str, Any]) -> None:
        stuck.set()
        await asyncio.Event().wait()

    async def handles(event: dict[str, Any]) -> None:
        handled.append((event["chat"], event["n"]))
        if len(handled) == 2:
            both.set()

    first, second = Inbox(processes[0], vault), Inbox(processes[1], vault)
    first.attach("telegram", hangs, by_chat)
    second.attach("telegram", handles, by_chat)
    first_task = await _run([first])
    await first.store("telegram", "x-0", {"chat": "x", "n": 0})
    await asyncio.wait_for(stuck.wait(), timeout=5)
    second_task = await _run([second])
    try:
        await second.store("telegram", "x-1", {"chat": "x", "n": 1})
        await asyncio.sleep(0.5)
        assert handled == []  # the chat is the first's while it lives
        await kill_lock_holders(processes[1], CLAIM_SPACE)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both.wait(), timeout=5)
        taken_over_in = loop.time() - started
    finally:
        await _stop(first_task + second_task)
    # the dead process's unfinished event first (the engine drops a turn it had finished), then
    # the rest of the chat in order
    assert handled == [("x", 0), ("x", 1)]
    assert taken_over_in < 1.5


async def test_a_handled_event_is_marked_at_once_so_its_chat_is_free_for_the_next_message(
    processes: tuple[Database, Database], vault: Vault
) -> None:
    """The citizen's next message may reach the other process: the chat is let go (after its
    event is marked) at once, not after SQLite's batching window of 0.2 s."""
    handled_at: list[float] = []
    loop = asyncio.get_running_loop()

    async def handle(event: dict[str, Any]) -> None:
        handled_at.append(loop.time())

    first, second = Inbox(processes[0], vault), Inbox(processes[1], vault)
    first.attach("telegram", handle, by_chat)
    second.attach("telegram", handle, by_chat)
    tasks = await _run([first, second])
    try:
        await first.store("telegram", "x-0", {"chat": "x", "n": 0})
        assert await all_marked(processes[0])
        marked_in = loop.time() - handled_at[0]
        await second.store("telegram", "x-1", {"chat": "x", "n": 1})  # the next message, elsewhere
        assert await all_marked(processes[0])
    finally:
        await _stop(tasks)
    assert marked_in < 0.15
    assert handled_at[1] - handled_at[0] < 0.5
