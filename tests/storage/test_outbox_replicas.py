"""Several processes on one PostgreSQL database: one sends each channel's messages (so Telegram's
limits hold for the deployment, and each chat's order), woken by whichever process queued them;
when it dies another takes over within seconds and sends what it had claimed."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from bot.outbox import OutboxDispatcher
from bot.outbox.election import ELECTION_EVERY, SENDER_SPACE
from kernel.messages import Reply
from storage.crypto import Vault
from storage.db import Database
from storage.outbox import queue_message
from tests.storage.test_outbox_claims import HangingSender
from tests.support.clock import Clock
from tests.support.locks import kill_lock_holders
from tests.support.sender import RecordingSender


async def _queue(db: Database, vault: Vault, clock: Clock, chat: str, text: str) -> None:
    async with db.session() as s:
        await queue_message(
            s, vault, org_id=None, case_id=None, kind="reply", target="reply", channel="telegram",
            chat_id=chat, reply=Reply(text=text), now=clock(),
        )  # fmt: skip
        await s.commit()


async def _until(condition, within: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `condition()` held (fails after `within`)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not condition():
        assert loop.time() - started < within, "not within the time"
        await asyncio.sleep(0.01)
    return loop.time() - started


async def test_one_process_sends_everything_any_process_queues_each_chat_in_order(
    processes: tuple[Database, Database], vault: Vault, clock: Clock
) -> None:
    senders = [RecordingSender(), RecordingSender()]
    dispatchers = [
        OutboxDispatcher(db, vault, {"telegram": sender}, clock=clock, instance=f"web-{n}")
        for n, (db, sender) in enumerate(zip(processes, senders, strict=True))
    ]
    # idle for a minute: only a notice from the database wakes the sender in time
    tasks = [asyncio.create_task(d.run(idle_seconds=60)) for d in dispatchers]
    try:
        await _until(lambda: any(d.elected for d in dispatchers), within=5)
        for n in range(10):
            for chat in "abcdef":  # queued by either process, as its turn handled the chat
                await _queue(processes[n % 2], vault, clock, chat, f"{chat}{n}")
        waited = await _until(lambda: sum(len(s.sent) for s in senders) >= 60, within=5)
        await asyncio.sleep(0.3)  # time for a second sending, were there one
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    busy = [s for s in senders if s.sent]
    assert len(busy) == 1  # one process sent everything: its throttle holds for all
    by_chat: dict[str, list[str]] = defaultdict(list)
    for chat, reply in busy[0].sent:
        by_chat[chat].append(reply.text)
    assert by_chat == {chat: [f"{chat}{n}" for n in range(10)] for chat in "abcdef"}
    assert waited < 5


async def test_when_the_sender_dies_another_sends_what_it_had_claimed(
    processes: tuple[Database, Database], vault: Vault, clock: Clock
) -> None:
    hanging, recording = HangingSender(), RecordingSender()
    first = OutboxDispatcher(processes[0], vault, {"telegram": hanging}, clock=clock, instance="web-1")
    first_task = asyncio.create_task(first.run(idle_seconds=60))
    await _until(lambda: bool(first.elected), within=5)
    second = OutboxDispatcher(processes[1], vault, {"telegram": recording}, clock=clock, instance="web-2")
    second_task = asyncio.create_task(second.run(idle_seconds=60))
    try:
        await _queue(processes[1], vault, clock, "a", "claimed by the first, never answered")
        await asyncio.wait_for(hanging.started.wait(), timeout=5)
        await _queue(processes[1], vault, clock, "a", "after it")
        await asyncio.sleep(0.3)
        assert recording.sent == [] and not second.elected  # the first still sends
        await kill_lock_holders(processes[1], SENDER_SPACE)  # what its death does
        took = await _until(lambda: len(recording.sent) == 2, within=2 * ELECTION_EVERY + 2)
    finally:
        for task in (first_task, second_task):
            task.cancel()
        await asyncio.gather(first_task, second_task, return_exceptions=True)
    assert [reply.text for _, reply in recording.sent] == ["claimed by the first, never answered", "after it"]
    assert took < 2 * ELECTION_EVERY + 2
    assert not first.elected  # it learnt it lost the lock (its connection went)
