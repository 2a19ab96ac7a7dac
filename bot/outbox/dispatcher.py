"""The outbox dispatcher: sends queued messages after their transaction committed, with retries.

Delivery is at least once: a message is marked sent after the platform accepted it, so a crash
between the two sends it again on restart. Successes are recorded a few at a time: at the end of
the pass that sent them, or within it after `MARK_EVERY` messages or `MARK_WITHIN` seconds,
whichever comes first (what the database could not take then is recorded by the next claim). That
is one transaction per pass instead of one per message, and none of them between a citizen's
message and the reply; a crash repeats at most the sends in flight and those few. LINE pushes
carry their retry key, so LINE drops a repeat itself. On PostgreSQL, where the database takes many
writers, each delivery is recorded as it lands, and one elected process sends each channel's
messages (bot/outbox/election.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Row, Update, bindparam, func, update
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from bot.channels.base import Sender
from bot.logs import log_failed_pass
from bot.outbox.election import stand_for
from bot.outbox.sending import (
    MARK_EVERY,
    MARK_WITHIN,
    SENDING_AT_ONCE,
    Delivered,
    Delivery,
    remember_card_statement,
)
from handlers.core.metrics import Metrics
from storage.crypto import Vault
from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import OUTBOX, OutboxRow

log = logging.getLogger("bot.outbox")

LEASE = timedelta(minutes=5)  # a claimed message not confirmed by then is sent again
# a pass sends at most this many messages to one chat (one after another), so a chat with a long
# queue holds a pass, and every other chat's next message behind it, only that long
PER_CHAT = 4


def _utcnow() -> datetime:
    return datetime.now(UTC)


def default_instance() -> str:
    """This machine's name: one process per machine needs no DAMRONGTHAM_INSTANCE."""
    return socket.gethostname()[:60] or "damrongtham"


def _claim_statement(batch: int, *, skip_locked: bool) -> Update:
    """Due messages, each only when no earlier message to its chat is still waiting, marked as
    being sent and returned in one statement: every chat's next message before any chat's second,
    oldest first, and at most `PER_CHAT` of one chat.

    The held chats are filtered in SQL, before the batch limit: otherwise a long queue for one
    held chat (a group over its limit) would fill every batch and stall all the others. Taking
    chats in turn does the same for a long queue that is not held: after a burst of reports, the
    staff groups' hundreds of cards would otherwise fill the batches ahead of the next answer to
    every citizen in the middle of a dialogue, and a chat's messages go one after another.
    """
    now: BindParameter[datetime] = bindparam("now")
    unsent = ("pending", "sending")
    earlier = OUTBOX.alias("earlier")
    blocked = (
        select(earlier.c.id)
        .where(
            earlier.c.chat_key == OUTBOX.c.chat_key,
            earlier.c.id < OUTBOX.c.id,
            earlier.c.status.in_(unsent),
            earlier.c.next_attempt_at > now,
        )
        .exists()
    )
    turn = func.row_number().over(partition_by=OUTBOX.c.chat_key, order_by=OUTBOX.c.id).label("turn")
    waiting = (
        select(OUTBOX.c.id, turn)
        .where(
            OUTBOX.c.status.in_(unsent),
            OUTBOX.c.channel.in_(bindparam("channels", expanding=True)),
            OUTBOX.c.next_attempt_at <= now,
            ~blocked,
        )
        .subquery("waiting")
    )
    due = (
        select(waiting.c.id)
        .where(waiting.c.turn <= PER_CHAT)
        .order_by(waiting.c.turn, waiting.c.id)
        .limit(batch)
    )
    if skip_locked:
        # PostgreSQL locks no rows of a window's result: the rows chosen are locked by id
        due = (
            select(OUTBOX.c.id)
            .where(OUTBOX.c.id.in_(due.scalar_subquery()))
            .with_for_update(skip_locked=True)
        )
    # Core, not the ORM: its handling of an UPDATE named by a model cost more than the statement
    return (
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(status="sending", next_attempt_at=bindparam("lease_until"), claimed_by=bindparam("me"))
        .returning(*OUTBOX.c)
    )


class OutboxDispatcher(Delivery):
    def __init__(
        self,
        db: Database,
        vault: Vault,
        senders: dict[str, Sender] | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        batch: int = 50,
        on_undeliverable: Callable[[OutboxRow], Awaitable[None]] | None = None,
        metrics: Metrics | None = None,
        instance: str | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.db, self.vault, self.clock, self.batch = db, vault, clock, batch
        # this process among those sharing the database: the same name after a restart
        self.instance = instance or default_instance()
        # told about messages the platform refused for good (for staff chats: alert coordinators)
        self.on_undeliverable = on_undeliverable
        self.senders: dict[str, Sender] = dict(senders or {})
        self._wake = asyncio.Event()
        # set while the running dispatcher has sent everything due (benchmarks wait on it)
        self.settled = asyncio.Event()
        # outcomes of sends the database could not take (it was away), by row id, written next pass
        self._missed: dict[int, dict[str, object]] = {}
        # accepted by the platform, not yet recorded as sent (still "sending" in the database)
        self._delivered: list[Delivered] = []
        self._claim_statement = _claim_statement(batch, skip_locked=db.dialect == "postgresql")
        self._remember_card = remember_card_statement(db.dialect)
        self._slots = asyncio.Semaphore(SENDING_AT_ONCE)
        # the channels this process sends now, while it runs on PostgreSQL beside other processes
        # (the elections it won); None: every channel it has a sender for (SQLite, one process per
        # platform; or a one-off drain by a tool)
        self.elected: set[str] | None = None
        # a crash between a delivery and its record sends it again: on PostgreSQL, which takes
        # many writers, nothing waits to be recorded with others
        self._mark_every = 1 if db.dialect == "postgresql" else MARK_EVERY

    def kick(self) -> None:
        self.settled.clear()
        self._wake.set()

    async def run(self, *, idle_seconds: float = 1.0) -> None:
        """Send until cancelled; wakes on `kick()` or every `idle_seconds` for retries."""
        streak = 0  # passes failed in a row
        elections: list[asyncio.Task[None]] = []
        if self.db.dialect == "postgresql":
            elected: set[str] = set()
            self.elected = elected
            elections = [
                asyncio.create_task(
                    stand_for(
                        self.db, channel, elected, wake=self.kick, hand_back=self._handing_back(channel)
                    ),
                    name=f"{channel} sender election",
                )
                for channel in self.senders
            ]
        try:
            while True:
                self._wake.clear()
                try:
                    more, _ = await self._pass()
                    streak = 0
                except Exception:
                    streak += 1
                    log_failed_pass(log, "outbox", streak)
                    more = False
                if more:
                    continue  # a full batch, or a chat's full share: more may be due already
                if streak == 0 and not self._wake.is_set():
                    self.settled.set()
                # deliveries not yet recorded: the next pass records them, MARK_WITHIN from now at the latest
                wait = min(idle_seconds, MARK_WITHIN) if self._delivered else idle_seconds
                # A kick during the pass left the event set, so this returns at once for the new rows.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
        finally:
            # stopping: what was delivered is recorded, or it would go out again after the restart;
            # what is still claimed is given back, so its chats wait for no lease
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._mark_sent(), timeout=2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._release(mine_only=True), timeout=2)
            for task in elections:
                task.cancel()
            await asyncio.gather(*elections, return_exceptions=True)
            self.elected = None

    def _handing_back(self, channel: str) -> Callable[[], Awaitable[int]]:
        """For a newly elected sender: every message of `channel` claimed and not confirmed is due
        again (its sender died or lost the election)."""
        return lambda: self._release(mine_only=False, channels=[channel])

    def _channels(self) -> list[str]:
        """The channels whose messages this process sends now."""
        if self.elected is None:
            return list(self.senders)
        return [channel for channel in self.senders if channel in self.elected]

    async def recover(self) -> int:
        """At start-up, messages this instance claimed before it died are due again at once instead
        of after their lease. On SQLite one process serves each platform (storage.db.one_server),
        so every claimed message of a channel this one sends is its own, whatever its name was;
        another channel's (a desk-only server beside the bot) is left alone."""
        return await self._release(mine_only=self.db.dialect != "sqlite", channels=list(self.senders))

    async def _release(self, *, mine_only: bool, channels: list[str] | None = None) -> int:
        claimed = col(OutboxMessage.status) == "sending"
        if mine_only:
            claimed = claimed & (col(OutboxMessage.claimed_by) == self.instance)
        if channels is not None:
            claimed = claimed & col(OutboxMessage.channel).in_(channels)
        async with self.db.session(write=True) as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(claimed)
                .values(status="pending", next_attempt_at=self.clock(), claimed_by=None)
            )
            await session.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def drain(self) -> int:
        """Send everything due now and record it (tests and the console)."""
        total = 0
        while True:
            self._wake.clear()
            more, sent = await self._pass()
            total += sent
            # Stop after a short batch unless the pass itself queued more (an alert to coordinators).
            if not more and not self._wake.is_set():
                await self._mark_sent()
                return total

    async def _claim(self) -> list[OutboxRow]:
        """Records the deliveries not yet recorded, then claims what is due, in one transaction."""
        now = self.clock()
        channels = self._channels()
        params = {"now": now, "lease_until": now + LEASE, "channels": channels, "me": self.instance}
        batch, self._delivered = self._delivered, []
        if not batch and not channels:
            return []  # another process sends them all

        def record_and_claim(connection: Connection) -> Sequence[Row[Any]]:
            if batch:
                self._record_sent(connection, batch, now)
            return connection.execute(self._claim_statement, params).all() if channels else []

        try:
            # a short write: the claim reads only the chats' waiting messages (ix_outbox_chat_waiting)
            # and on SQLite holds the writer, which another process (a web chat's `serve`) may be
            # waiting for, only while its statements run, not across rounds of a busy event loop
            claimed = await self.db.write_short(record_and_claim)
        except Exception:
            self._delivered[:0] = batch  # kept for the next pass
            raise
        self._recorded(batch, now)
        return sorted((OutboxRow(**row._mapping) for row in claimed), key=lambda row: row.id)

    async def send_due(self) -> int:
        """One pass: claim due messages, send them in order, record each outcome; returns how many went."""
        return (await self._pass())[1]

    async def _pass(self) -> tuple[bool, int]:
        """Claim, send, and record what went; whether more may be due already (the batch was
        full, or a chat's share of it), and how many went."""
        await self._record_missed()
        rows = await self._claim()
        # each chat's messages in order, different chats side by side: a send is mostly a wait for
        # the platform's answer, and one chat's wait should not hold every other chat's back
        chats: dict[tuple[str | None, str | None], list[OutboxRow]] = {}
        for row in rows:
            chats.setdefault((row.channel, row.chat_key), []).append(row)
        # every chat finishes even if recording another's deliveries failed; then that is raised
        outcomes = await asyncio.gather(
            *(self._send_chat(chat_rows) for chat_rows in chats.values()), return_exceptions=True
        )
        # what went is recorded before the pass ends: a kill now repeats only the sends in flight.
        # When another pass is already due (kicked meanwhile), its claim records them instead, in
        # the same transaction: one write rather than two, which SQLite's single writer feels.
        if not self._wake.is_set():
            await self._mark_sent()
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        more = len(rows) == self.batch or any(len(chat) == PER_CHAT for chat in chats.values())
        return more, sum(n for n in outcomes if isinstance(n, int))
