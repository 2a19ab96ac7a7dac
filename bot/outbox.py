"""The outbox dispatcher: sends queued messages after their transaction committed, with retries.

Delivery is at least once: a message is marked sent after the platform accepted it, so a crash
between the two sends it again on restart. Successes are recorded a few at a time: in the next
pass's claim (the same transaction), or on their own after `MARK_EVERY` messages or `MARK_WITHIN`
seconds, whichever comes first. That is one transaction instead of one per message, and none of
them between a citizen's message and the reply, at the price of repeating at most those few after
a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import BindParameter, Insert, Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.channels.base import ChatMoved, PermanentFailure, RetryLater, Sender
from bot.logs import log_failed_pass
from handlers.core.metrics import Metrics
from kernel.messages import Reply
from storage.crypto import Vault
from storage.db import Database
from storage.models import CardMessage, ChatBinding, OutboxMessage
from storage.outbox import OUTBOX, OutboxRow
from storage.repositories import insert_for

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # a claimed message not confirmed by then is sent again
MARK_EVERY = 10
MARK_WITHIN = 0.5  # seconds
SENDING_AT_ONCE = 8  # sends under way at a time, each to a different chat
# transient failures are retried this long (LINE keeps a retry key for 24 hours); then coordinators hear
GIVE_UP_AFTER = timedelta(hours=24)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _claim_statement(batch: int, *, skip_locked: bool) -> Update:
    """Due messages, each only when no earlier message to its chat is still waiting, marked as
    being sent and returned in one statement (built once: building it costs more than running it).

    The held chats are filtered in SQL, before the batch limit: otherwise a long queue for one
    held chat (a group over its limit) would fill every batch and stall all the others.
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
    due = (
        select(OUTBOX.c.id)
        .where(
            OUTBOX.c.status.in_(unsent),
            OUTBOX.c.channel.in_(bindparam("channels", expanding=True)),
            OUTBOX.c.next_attempt_at <= now,
            ~blocked,
        )
        .order_by(OUTBOX.c.id)
        .limit(batch)
    )
    if skip_locked:
        due = due.with_for_update(skip_locked=True)
    # Core, not the ORM: its handling of an UPDATE named by a model cost more than the statement
    return (
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(status="sending", next_attempt_at=bindparam("lease_until"))
        .returning(*OUTBOX.c)
    )


def _remember_card_statement(dialect: str) -> Insert:
    table = CardMessage.__table__  # type: ignore[attr-defined]
    upsert = insert_for(dialect)(table)
    statement: Insert = upsert.on_conflict_do_update(
        index_elements=["case_id", "channel", "chat_id"], set_={"message_id": upsert.excluded.message_id}
    )
    return statement


# The payload may hold a tracking code: keep it no longer than needed. (Built once, as Core: it runs
# after nearly every step.)
_RECORD_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="sent", sent_at=bindparam("now"), payload_enc=None)
)


@dataclass
class _Delivered:
    """A message the platform accepted, not yet recorded as sent."""

    row: OutboxRow
    chat_id: str
    card_message_id: str | None  # a case card's message, edited in place by later actions
    at: float  # time.monotonic() of the delivery


class OutboxDispatcher:
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
    ) -> None:
        self.metrics = metrics or Metrics()
        self.db, self.vault, self.clock, self.batch = db, vault, clock, batch
        # told about messages the platform refused for good (for staff chats: alert coordinators)
        self.on_undeliverable = on_undeliverable
        self.senders: dict[str, Sender] = dict(senders or {})
        self._wake = asyncio.Event()
        # set while the running dispatcher has sent everything due (benchmarks wait on it)
        self.settled = asyncio.Event()
        # outcomes of sends the database could not take (it was away), by row id, written next pass
        self._missed: dict[int, dict[str, object]] = {}
        # accepted by the platform, not yet recorded as sent (still "sending" in the database)
        self._delivered: list[_Delivered] = []
        self._claim_statement = _claim_statement(batch, skip_locked=db.dialect == "postgresql")
        self._remember_card = _remember_card_statement(db.dialect)
        self._slots = asyncio.Semaphore(SENDING_AT_ONCE)

    def kick(self) -> None:
        self.settled.clear()
        self._wake.set()

    async def run(self, *, idle_seconds: float = 1.0) -> None:
        """Send until cancelled; wakes on `kick()` or every `idle_seconds` for retries."""
        streak = 0  # passes failed in a row
        try:
            while True:
                self._wake.clear()
                try:
                    claimed, _ = await self._pass()
                    streak = 0
                except Exception:
                    streak += 1
                    log_failed_pass(log, "outbox", streak)
                    claimed = 0
                if claimed == self.batch:
                    continue  # a full batch: more may be due already
                if streak == 0 and not self._wake.is_set():
                    self.settled.set()
                # deliveries not yet recorded: the next pass records them, MARK_WITHIN from now at the latest
                wait = min(idle_seconds, MARK_WITHIN) if self._delivered else idle_seconds
                # A kick during the pass left the event set, so this returns at once for the new rows.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
        finally:
            # stopping: what was delivered is recorded, or it would go out again after the restart
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._mark_sent(), timeout=2)

    async def recover(self) -> int:
        """At start-up on SQLite (one process by nature), messages claimed by a process that died
        are due again at once instead of after their lease."""
        if self.db.dialect != "sqlite":
            return 0
        async with self.db.session(write=True) as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.status) == "sending")
                .values(status="pending", next_attempt_at=self.clock())
            )
            await session.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def drain(self) -> int:
        """Send everything due now and record it (tests and the console)."""
        total = 0
        while True:
            self._wake.clear()
            claimed, sent = await self._pass()
            total += sent
            # Stop after a short batch unless the pass itself queued more (an alert to coordinators).
            if claimed < self.batch and not self._wake.is_set():
                await self._mark_sent()
                return total

    async def _claim(self) -> list[OutboxRow]:
        """Records the deliveries not yet recorded, then claims what is due, in one transaction."""
        now = self.clock()
        params = {"now": now, "lease_until": now + LEASE, "channels": list(self.senders)}
        batch, self._delivered = self._delivered, []
        try:
            async with self.db.session(write=True) as session:
                if batch:
                    await self._record_sent(session, batch, now)
                claimed = await session.execute(self._claim_statement, params)
                await session.commit()
        except Exception:
            self._delivered[:0] = batch  # kept for the next pass
            raise
        self._recorded(batch, now)
        return sorted((OutboxRow(**row._mapping) for row in claimed), key=lambda row: row.id)

    async def send_due(self) -> int:
        """One pass: claim due messages, send them in order, record each outcome; returns how many went."""
        return (await self._pass())[1]

    async def _pass(self) -> tuple[int, int]:
        """Claim and send; what went is recorded by the next pass or `_mark_sent`."""
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
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return len(rows), sum(n for n in outcomes if isinstance(n, int))

    async def _send_chat(self, rows: list[OutboxRow]) -> int:
        """One chat's messages, in order; how many went."""
        held: set[tuple[str, str]] = set()  # a failure: the chat's later messages wait, keeping order
        sent = 0
        for row in rows:
            async with self._slots:
                try:
                    sent += await self._send_one(row, held)
                except Exception:
                    # One bad row (unreadable, or its outcome not recorded) must not stop the others;
                    # its lease brings it back later.
                    self.metrics.errors["outbox"] += 1
                    log.exception("outbox row could not be handled", extra={"outbox_id": row.id})
            delivered = self._delivered
            if delivered and (
                len(delivered) >= MARK_EVERY or time.monotonic() - delivered[0].at >= MARK_WITHIN
            ):
                await self._mark_sent()
        return sent

    async def _send_one(self, row: OutboxRow, held: set[tuple[str, str]]) -> int:
        assert row.channel is not None
        try:
            chat_id: str = self.vault.decrypt(row.chat_enc or "")
            reply = Reply.from_dict(self.vault.decrypt(row.payload_enc or ""))
            reply.idempotency_key = f"outbox-{row.id}"
        except Exception as exc:
            await self._update(row, status="failed", last_error=f"unreadable: {type(exc).__name__}")
            log.error("outbox row unreadable; marked failed", extra={"outbox_id": row.id})
            return 0
        if (row.channel, chat_id) in held:
            await self._update(row, status="pending", next_attempt_at=self.clock())
            return 0
        try:
            message_id = await self.senders[row.channel].send(chat_id, reply)
        except ChatMoved as moved:
            await self._move_chat(row.channel, chat_id, moved.new_chat_id)
            row.chat_enc = self.vault.encrypt(moved.new_chat_id)
            row.chat_key = self.vault.lookup_key("outbox", row.channel, moved.new_chat_id)
            await self._update(row, chat_enc=row.chat_enc, chat_key=row.chat_key)
            return await self._send_one(row, held)
        except RetryLater as exc:
            held.add((row.channel, chat_id))
            wait = self.clock() + timedelta(seconds=exc.seconds)
            await self._update(row, status="pending", next_attempt_at=wait)
            if not exc.ours:
                log.warning("platform asked to wait %.1fs", exc.seconds, extra={"outbox_id": row.id})
            return 0
        except PermanentFailure as exc:
            await self._update(row, status="failed", last_error=str(exc)[:300])
            log.error("outbox message refused for good", extra={"outbox_id": row.id, "kind": row.kind})
            if self.on_undeliverable is not None:
                await self.on_undeliverable(row)
            return 0
        except Exception as exc:
            held.add((row.channel, chat_id))
            attempts = row.attempts + 1
            give_up = self.clock() - row.created_at > GIVE_UP_AFTER
            await self._update(
                row,
                status="failed" if give_up else "pending",
                attempts=attempts,
                next_attempt_at=self.clock() + timedelta(seconds=min(2**attempts, 300)),
                last_error=f"{type(exc).__name__}: {exc}"[:300],
            )
            log.warning("outbox send failed (attempt %d)", attempts, extra={"outbox_id": row.id})
            if give_up:
                self.metrics.errors["outbox_gave_up"] += 1
                if self.on_undeliverable is not None:
                    await self.on_undeliverable(row)
            return 0
        self.metrics.messages_sent[row.channel] += 1
        card = row.kind == "case_card" and reply.media is None and message_id and row.case_id
        self._delivered.append(_Delivered(row, chat_id, message_id if card else None, time.monotonic()))
        return 1

    async def _mark_sent(self) -> None:
        """Record the deliveries not yet recorded, in one transaction of their own; if that fails
        they are kept, and the next pass records them before claiming more."""
        batch, self._delivered = self._delivered, []
        if not batch:
            return
        now = self.clock()
        try:
            async with self.db.session(write=True) as session:
                await self._record_sent(session, batch, now)
                await session.commit()
        except Exception:
            self.metrics.errors["outbox"] += 1
            log.exception("deliveries could not be recorded", extra={"outbox_ids": [d.row.id for d in batch]})
            self._delivered[:0] = batch
            return
        self._recorded(batch, now)

    async def _record_sent(self, session: AsyncSession, batch: list[_Delivered], now: datetime) -> None:
        await session.execute(_RECORD_SENT, {"ids": [d.row.id for d in batch], "now": now})
        await self._remember_cards(session, batch)

    @staticmethod
    def _recorded(batch: list[_Delivered], now: datetime) -> None:
        for d in batch:
            d.row.status, d.row.sent_at, d.row.payload_enc = "sent", now, None

    async def _move_chat(self, channel: str, old: str, new: str) -> None:
        """A group became a supergroup: its bindings and posted cards follow it."""
        async with self.db.session(write=True) as session:
            await session.execute(
                update(ChatBinding)
                .where(col(ChatBinding.channel) == channel, col(ChatBinding.chat_id) == old)
                .values(chat_id=new)
            )
            await session.execute(
                update(CardMessage)
                .where(col(CardMessage.channel) == channel, col(CardMessage.chat_id) == old)
                .values(chat_id=new)
            )
            await session.commit()
        log.warning("a bound chat moved to a new id; bindings updated")

    async def _remember_cards(self, session: AsyncSession, batch: list[_Delivered]) -> None:
        """Where each case card is, so later actions edit it in place (one upsert for the batch)."""
        cards = {
            (d.row.case_id, d.row.channel, d.chat_id): d.card_message_id
            for d in batch
            if d.card_message_id is not None
        }  # a card sent twice in one batch: the later one counts
        if not cards:
            return
        await session.execute(
            self._remember_card,
            [
                {"case_id": case_id, "channel": channel, "chat_id": chat_id, "message_id": message_id}
                for (case_id, channel, chat_id), message_id in cards.items()
            ],
        )

    async def _update(self, row: OutboxRow, **values: object) -> None:
        """Record an outcome with one UPDATE by primary key (no read first)."""
        try:
            await self._write(row.id, values)
        except Exception:
            self._missed.setdefault(row.id, {}).update(values)  # the next pass writes it
            raise
        for key, value in values.items():
            setattr(row, key, value)

    async def _write(self, row_id: int | None, values: dict[str, object]) -> None:
        async with self.db.session(write=True) as session:
            await session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == row_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            await session.commit()

    async def _record_missed(self) -> None:
        """Outcomes the database missed (it went away after the send), written before anything new
        is claimed: left to the lease, those rows would hold their chats back for the whole lease
        (every later reply to the citizen waiting behind them) and then go out a second time."""
        for row_id in list(self._missed):
            await self._write(row_id, self._missed[row_id])
            del self._missed[row_id]
