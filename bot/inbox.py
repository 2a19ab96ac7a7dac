"""Deliveries in: stored first (so a crash loses nothing), then handled, each chat's in order.

Telegram updates (polled or pushed) and LINE events are written here before the platform is told
they arrived. Each chat is a lane: its events are handled one after another, in the order they were
stored, while other chats' lanes go on beside it. A turn mostly waits (on the database, on the Bot
API), so chats handled strictly one at a time would leave every citizen waiting for everyone
else's round trips.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import col, select

from bot.logs import log_failed_pass
from handlers.core.metrics import Metrics
from storage import upsert as upsert
from storage.crypto import Vault
from storage.db import Database
from storage.models import INBOX_MAX_ATTEMPTS, InboxEvent

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], Awaitable[None]]
LaneOf = Callable[[dict[str, Any]], str]  # the chat an event belongs to: its events keep their order
MAX_ATTEMPTS = INBOX_MAX_ATTEMPTS
CONCURRENCY = 8  # events handled at once, each of a different chat
FETCH = 200  # stored events read at a time
MAX_TAKEN = 2_000  # read but not yet marked handled: past this, reading waits for the lanes to drain
MARK_EVERY = 20  # handled events marked in one statement ...
MARK_WITHIN = 0.2  # ... or after this many seconds, whichever comes first
SWEEP_EVERY = 5.0  # seconds between full reads, for rows committed after a row with a larger id


_READ = (
    select(col(InboxEvent.id), col(InboxEvent.channel), col(InboxEvent.payload_enc), col(InboxEvent.attempts))
    .where(
        col(InboxEvent.processed_at).is_(None),
        col(InboxEvent.attempts) < MAX_ATTEMPTS,
        col(InboxEvent.id) > bindparam("floor"),
    )
    .order_by(col(InboxEvent.id))
    .limit(FETCH)
)
_EVENTS = InboxEvent.__table__  # type: ignore[attr-defined]
_MARK_DONE = (  # on the table: the ORM would look for the rows among its objects too
    update(_EVENTS)
    .where(_EVENTS.c.id.in_(bindparam("ids", expanding=True)))
    .values(processed_at=bindparam("now"), payload_enc=bindparam("blank"))
)


@dataclass
class _Event:
    id: int
    channel: str
    payload: dict[str, Any] | None  # None: unreadable (the key changed), fails like a bad event
    attempts: int


@dataclass
class _Lane:
    events: deque[_Event] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    retry_at: float = 0.0  # loop time before which its failed first event is not tried again


class Inbox:
    def __init__(
        self,
        db: Database,
        vault: Vault,
        handlers: dict[str, Handler] | None = None,
        metrics: Metrics | None = None,
        *,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.db, self.vault = db, vault
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.lanes: dict[str, LaneOf] = {}  # a channel without one is a single lane
        self.metrics = metrics or Metrics()
        self.handled = 0
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._lanes: dict[str, _Lane] = {}
        self._taken: set[int] = set()  # read and not yet marked: never read into a lane twice
        self._done: list[int] = []  # handled, to be marked in one statement
        self._mark_by = 0.0  # loop time by which the oldest of them is to be marked
        self._last_id = 0
        self._swept_at = float("-inf")

    def attach(self, channel: str, handler: Handler, lane: LaneOf | None = None) -> None:
        self.handlers[channel] = handler
        if lane is not None:
            self.lanes[channel] = lane

    async def store(self, channel: str, event_key: str, payload: dict[str, Any]) -> bool:
        """Keep a delivery; False when the same event was stored before (a redelivery)."""
        return bool(await self.store_many(channel, [(event_key, payload)]))

    async def store_many(self, channel: str, events: Iterable[tuple[str, dict[str, Any]]]) -> set[str]:
        """Keep deliveries in one transaction; the keys that were new (a redelivery is stored once)."""
        now = datetime.now(UTC)
        rows = [
            {
                "channel": channel,
                "event_key": key,
                "payload_enc": self.vault.encrypt(payload),
                "received_at": now,
            }
            for key, payload in events
        ]
        if not rows:
            return set()
        async with self.db.session(write=True) as session:
            stored = await upsert.insert_new(session, InboxEvent, rows, key=col(InboxEvent.event_key))
            await session.commit()
        if stored:
            self._wake.set()
        return stored

    async def handle_pending(self) -> int:
        """Handle everything stored now, failed events once more without waiting: one pass, as tests
        and tools want it. How many events were handled."""
        before = self.handled
        await self._mark_done()
        await self._read(sweep=True)
        self._start(retry_now=True)
        while running := [lane.task for lane in self._lanes.values() if lane.task is not None]:
            await asyncio.gather(*running)
        await self._mark_done()
        return self.handled - before

    async def run(self, *, idle_seconds: float = 1.0) -> None:
        loop = asyncio.get_running_loop()
        streak = 0  # passes failed in a row
        try:
            while True:
                try:
                    # not on every wake: a new delivery wakes the loop several times a second, and
                    # marking each time cost the single SQLite writer a transaction per delivery
                    if len(self._done) >= MARK_EVERY or (self._done and loop.time() >= self._mark_by):
                        await self._mark_done()
                    await self._read(sweep=loop.time() - self._swept_at >= SWEEP_EVERY)
                    streak = 0
                except Exception:
                    streak += 1
                    log_failed_pass(log, "inbox", streak)
                self._start()
                await self._sleep(loop, idle_seconds, streak)
        finally:
            tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):  # best effort: an unmarked event is dropped as a duplicate
                await asyncio.wait_for(self._mark_done(), timeout=2)

    async def _sleep(self, loop: asyncio.AbstractEventLoop, idle_seconds: float, streak: int) -> None:
        if streak:
            wait = min(2.0**streak, 60.0)
        else:
            wait = max(0.0, self._mark_by - loop.time()) if self._done else idle_seconds
        waiting = [lane.retry_at for lane in self._lanes.values() if lane.task is None and lane.events]
        if waiting:
            wait = min(wait, max(0.0, min(waiting) - loop.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=wait)
        self._wake.clear()

    async def _read(self, *, sweep: bool) -> None:
        """Stored events into their lanes. Usually only those after the last one read; a sweep reads
        from the start, for an event whose transaction committed after a later one's."""
        if len(self._taken) >= MAX_TAKEN:
            return
        floor = 0 if sweep else self._last_id
        async with self.db.session() as session:
            rows = (await session.execute(_READ, {"floor": floor})).all()
        if sweep:
            self._swept_at = asyncio.get_running_loop().time()
        for row_id, channel, payload_enc, attempts in rows:
            assert row_id is not None  # a primary key
            self._last_id = max(self._last_id, row_id)
            if row_id in self._taken or channel not in self.handlers:
                continue
            try:
                payload: dict[str, Any] | None = self.vault.decrypt(payload_enc)
            except Exception:
                payload = None
            lane_of = self.lanes.get(channel)
            key = channel
            if lane_of is not None and payload is not None:
                with contextlib.suppress(Exception):  # a malformed event: the channel's own lane
                    key = f"{channel}:{lane_of(payload)}"
            self._taken.add(row_id)
            self._lanes.setdefault(key, _Lane()).events.append(_Event(row_id, channel, payload, attempts))
        if len(rows) == FETCH:
            self._wake.set()  # more are waiting

    def _start(self, *, retry_now: bool = False) -> None:
        now = asyncio.get_running_loop().time()
        for key, lane in self._lanes.items():
            if lane.task is None and lane.events and (retry_now or lane.retry_at <= now):
                lane.task = asyncio.create_task(self._work(key, lane), name="inbox lane")

    async def _work(self, key: str, lane: _Lane) -> None:
        """One chat's events, oldest first; a failure holds the rest of this chat (only) back."""
        loop = asyncio.get_running_loop()
        try:
            while lane.events:
                event = lane.events[0]
                async with self._slots:
                    handled = await self._handle(event)
                if not handled:
                    lane.retry_at = loop.time() + min(2.0**event.attempts, 60.0)
                    self._wake.set()
                    return
                lane.events.popleft()
        except Exception:
            log.exception("inbox lane failed; its events are tried again shortly")
            lane.retry_at = loop.time() + 1.0
            self._wake.set()
        finally:
            lane.task = None
            if not lane.events and self._lanes.get(key) is lane:
                del self._lanes[key]

    async def _handle(self, event: _Event) -> bool:
        """True when the event is done with (handled, or set aside for good)."""
        try:
            if event.payload is None:
                raise ValueError("stored event unreadable with the current key")
            await self.handlers[event.channel](event.payload)
        except Exception:
            self.metrics.errors["inbox"] += 1
            event.attempts += 1
            if event.attempts >= MAX_ATTEMPTS:
                # a poison event must not hold its chat back for ever: set it aside
                log.error(
                    "webhook event set aside after %d attempts",
                    MAX_ATTEMPTS,
                    extra={"channel": event.channel},
                )
                await self._set(event.id, attempts=MAX_ATTEMPTS, processed=True)
                self._taken.discard(event.id)
                return True
            log.exception("webhook event failed; it will be tried again", extra={"channel": event.channel})
            await self._set(event.id, attempts=event.attempts, processed=False)
            return False
        self.handled += 1
        if not self._done:
            self._mark_by = asyncio.get_running_loop().time() + MARK_WITHIN
        self._done.append(event.id)
        if len(self._done) >= MARK_EVERY:
            self._wake.set()
        return True

    async def _mark_done(self) -> None:
        """Mark handled events in one statement. Until then they stay taken, so they are never handled
        twice here; after a crash in between, the engine drops them as duplicates (update keys)."""
        if not self._done:
            return
        ids, self._done = self._done, []
        try:
            async with self.db.session(write=True) as session:
                blank = self.vault.encrypt({})  # handled: keep no message content
                await session.execute(_MARK_DONE, {"ids": ids, "now": datetime.now(UTC), "blank": blank})
                await session.commit()
        except BaseException:
            self._done = ids + self._done
            raise
        self._taken.difference_update(ids)

    async def _set(self, row_id: int, *, attempts: int, processed: bool) -> None:
        values: dict[str, Any] = {"attempts": attempts}
        if processed:
            # handled or set aside: keep no message content
            values |= {"processed_at": datetime.now(UTC), "payload_enc": self.vault.encrypt({})}
        async with self.db.session(write=True) as session:
            await session.execute(update(InboxEvent).where(col(InboxEvent.id) == row_id).values(**values))
            await session.commit()
