"""Deliveries in: stored first (so a crash loses nothing), then handled, each chat's in order.

Telegram updates (polled or pushed) and LINE events are written here before the platform is told
they arrived. Each chat is a lane: its events are handled one after another, in the order they were
stored, while other chats' lanes go on beside it. A turn mostly waits (on the database, on the Bot
API), so chats handled strictly one at a time would leave every citizen waiting for everyone
else's round trips.

Several processes may serve one PostgreSQL database, and a webhook may reach any of them: each
process handles only the chats it has claimed (storage.chat_claims), so an event is handled once,
and its chat's events in order, whichever process stored them.
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
from sqlalchemy import select as sa_select
from sqlmodel import col

from bot.logs import log_failed_pass
from handlers.core.metrics import Metrics
from storage import upsert as upsert
from storage.chat_claims import ChatClaims, ClaimsLost
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
RECHECK_EVERY = 0.5  # seconds between reads again of events whose chat another process held


_EVENTS = InboxEvent.__table__  # type: ignore[attr-defined]
_UNHANDLED = sa_select(_EVENTS.c.id).where(
    _EVENTS.c.id.in_(bindparam("ids", expanding=True)), _EVENTS.c.processed_at.is_(None)
)
_READ = (  # on the table: SQLModel's select takes at most four columns
    sa_select(_EVENTS.c.id, _EVENTS.c.channel, _EVENTS.c.lane, _EVENTS.c.payload_enc, _EVENTS.c.attempts)
    .where(
        _EVENTS.c.processed_at.is_(None),
        _EVENTS.c.attempts < MAX_ATTEMPTS,
        _EVENTS.c.id > bindparam("floor"),
    )
    .order_by(_EVENTS.c.id)
    .limit(FETCH)
)
_MARK_DONE = (  # on the table: the ORM would look for the rows among its objects too
    update(_EVENTS)
    .where(_EVENTS.c.id.in_(bindparam("ids", expanding=True)))
    .values(processed_at=bindparam("now"), payload_enc=bindparam("blank"))
)


@dataclass
class _Event:
    id: int
    channel: str
    lane: str
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
        self._claims = ChatClaims(db)
        # A chat is let go once its events are marked. PostgreSQL takes many writers, and another
        # process may be waiting for the chat (the citizen's next message reached it): mark at once.
        # SQLite's single writer is spared a transaction per event instead.
        self._mark_every = 1 if self._claims.exclusive else MARK_EVERY
        self._taken: set[int] = set()  # read and not yet marked: never read into a lane twice
        self._done: list[_Event] = []  # handled, to be marked in one statement
        self._mark_by = 0.0  # loop time by which the oldest of them is to be marked
        self._last_id = 0
        self._swept_at = float("-inf")
        self._skipped_from: int | None = None  # the first event left because another process held its chat
        self._rechecked_at = float("-inf")

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
                "lane": self._lane_of(channel, payload),
                "payload_enc": self.vault.encrypt(payload),
                "received_at": now,
            }
            for key, payload in events
        ]
        if not rows:
            return set()
        key = col(InboxEvent.event_key)
        stored = await self.db.write_short(lambda c: upsert.insert_new_on(c, InboxEvent, rows, key=key))
        if stored:
            self._wake.set()
        return stored

    async def handle_pending(self) -> int:
        """Handle everything stored now, failed events once more without waiting: one pass, as tests
        and tools want it. How many events were handled."""
        before = self.handled
        await self._mark_done()
        await self._read(0)
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
                    if len(self._done) >= self._mark_every or (self._done and loop.time() >= self._mark_by):
                        await self._mark_done()
                    await self._read(self._floor(loop.time()))
                    streak = 0
                except ClaimsLost:
                    self._forget_queued()
                    streak += 1
                    log_failed_pass(log, "inbox", streak)
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
            with contextlib.suppress(Exception):  # the claims go with the connection anyway
                await asyncio.wait_for(self._claims.close(), timeout=2)

    def _floor(self, now: float) -> int:
        """Where the next read starts: after the last event read; at the first event left to another
        process every RECHECK_EVERY seconds (that process may have let its chat go, or died); at the
        start every SWEEP_EVERY seconds."""
        if now - self._swept_at >= SWEEP_EVERY:
            self._swept_at = now
            return 0
        if self._skipped_from is not None and now - self._rechecked_at >= RECHECK_EVERY:
            self._rechecked_at = now
            return self._skipped_from - 1
        return self._last_id

    async def _sleep(self, loop: asyncio.AbstractEventLoop, idle_seconds: float, streak: int) -> None:
        if streak:
            wait = min(2.0**streak, 60.0)
        else:
            wait = max(0.0, self._mark_by - loop.time()) if self._done else idle_seconds
        waiting = [lane.retry_at for lane in self._lanes.values() if lane.task is None and lane.events]
        if self._skipped_from is not None:
            waiting.append(self._rechecked_at + RECHECK_EVERY)
        if waiting:
            wait = min(wait, max(0.0, min(waiting) - loop.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=wait)
        self._wake.clear()

    def _lane_of(self, channel: str, payload: dict[str, Any] | None) -> str:
        """The lane of an event: a keyed hash of its chat (the same in every process), so the
        stored lane does not name the chat."""
        lane_of, chat = self.lanes.get(channel), ""
        if lane_of is not None and payload is not None:
            with contextlib.suppress(Exception):  # a malformed event: the channel's own lane
                chat = lane_of(payload)
        return self.vault.lookup_key("inbox lane", channel, chat)

    async def _read(self, floor: int) -> None:
        """Stored events after `floor` into the lanes of the chats this process holds or claims now.
        Usually the read starts after the last event read; from the start, it finds an event whose
        transaction committed after a later one's."""
        if len(self._taken) >= MAX_TAKEN:
            return
        async with self.db.session(inline=True) as session:
            rows = (await session.execute(_READ, {"floor": floor})).all()
        found: list[tuple[int, str, str, str | dict[str, Any] | None, int]] = []  # payload: sealed or open
        newest = self._last_id
        for row_id, channel, lane, payload_enc, attempts in rows:
            assert row_id is not None  # a primary key
            newest = max(newest, row_id)
            if row_id in self._taken or channel not in self.handlers:
                continue
            payload: dict[str, Any] | None = None
            if lane is None:  # stored before events named their lane
                payload = self._open(payload_enc)
                lane = self._lane_of(channel, payload)
            found.append((row_id, channel, lane, payload_enc if payload is None else payload, attempts))
        before = self._claims.held
        held = await self._claims.claim({lane for _, _, lane, _, _ in found})
        self._last_id = newest  # not before: when the claim fails, these are read again
        fresh = held - before
        if fresh and self._claims.exclusive:
            # Read before the claim: another process may have handled and marked some of them since,
            # then let their chat go to this claim. Only what is still unhandled now is this one's.
            ids = [row_id for row_id, _, lane, _, _ in found if lane in fresh]
            async with self.db.session() as session:
                open_ = set((await session.execute(_UNHANDLED, {"ids": ids})).scalars())
            found = [event for event in found if event[2] not in fresh or event[0] in open_]
        skipped = None
        for row_id, channel, lane, sealed, attempts in found:
            if lane not in held:
                skipped = row_id if skipped is None else skipped
                continue
            payload = self._open(sealed) if isinstance(sealed, str) else sealed
            self._taken.add(row_id)
            self._lanes.setdefault(lane, _Lane()).events.append(
                _Event(row_id, channel, lane, payload, attempts)
            )
        earlier = self._skipped_from
        if earlier is not None and floor < earlier and len(rows) < FETCH:
            earlier = None  # read past again: what another process still holds was skipped anew
        self._skipped_from = min((x for x in (earlier, skipped) if x is not None), default=None)
        if len(rows) == FETCH:
            self._wake.set()  # more are waiting

    def _open(self, payload_enc: str) -> dict[str, Any] | None:
        try:
            payload: dict[str, Any] = self.vault.decrypt(payload_enc)
        except Exception:
            return None  # unreadable (the key changed): fails like a bad event
        return payload

    def _forget_queued(self) -> None:
        """The claims are lost: other processes may take these chats now. Events not begun here are
        left to them (an event being handled finishes)."""
        for key, lane in list(self._lanes.items()):
            keep = [lane.events[0]] if lane.task is not None and lane.events else []
            for event in list(lane.events)[len(keep) :]:
                self._taken.discard(event.id)
            lane.events = deque(keep)
            if not keep and lane.task is None:
                del self._lanes[key]

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
        self._done.append(event)
        if len(self._done) >= self._mark_every:
            self._wake.set()
        return True

    async def _mark_done(self) -> None:
        """Mark handled events in one statement. Until then they stay taken, so they are never handled
        twice here; after a crash in between, the engine drops them as duplicates (update keys).
        Then the chats with nothing left here are let go, for any process to claim."""
        if self._done:
            done, self._done = self._done, []
            ids = [event.id for event in done]
            # handled: keep no message content
            marks = {"ids": ids, "now": datetime.now(UTC), "blank": self.vault.encrypt({})}
            try:
                await self.db.write_short(lambda connection: connection.execute(_MARK_DONE, marks))
            except BaseException:
                self._done = done + self._done
                raise
            self._taken.difference_update(ids)
        # never a chat with an event read, running or handled but not marked: another process
        # would handle that event again
        idle = self._claims.held - set(self._lanes) - {event.lane for event in self._done}
        if idle:
            await self._claims.release(idle)

    async def _set(self, row_id: int, *, attempts: int, processed: bool) -> None:
        values: dict[str, Any] = {"attempts": attempts}
        if processed:
            # handled or set aside: keep no message content
            values |= {"processed_at": datetime.now(UTC), "payload_enc": self.vault.encrypt({})}
        statement = update(_EVENTS).where(_EVENTS.c.id == row_id).values(**values)
        await self.db.write_short(lambda connection: connection.execute(statement))
